//! The demo charm's entry point: the whole `main.rs` of a charm.

mod charm;

fn main() -> std::process::ExitCode {
    charm_core::main::<charm::Demo>()
}

#[cfg(test)]
mod tests {
    //! State-transition tests of the demo charm (`cargo test -p charm-core --example demo-charm`).

    use super::charm::Demo;
    use charm_core::testing::{Context, Relation, State};
    use charm_core::{Event, Metadata, Status};

    fn ctx() -> Context<Demo> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-charm");
        Context::new(Metadata::from_charm_dir(&dir).expect("demo metadata"))
    }

    #[test]
    fn blocks_without_fileset() {
        let out = ctx().run(Event::ConfigChanged, State::default()).unwrap();
        assert_eq!(
            out.unit_status,
            Some(Status::blocked("missing fileset config"))
        );
    }

    #[test]
    fn leader_hands_the_fileset_over() {
        let state = State {
            leader: true,
            config: [("fileset".to_string(), "/etc, /srv".into())].into(),
            relations: vec![Relation::new("backup", "bacula-fd")],
            ..Default::default()
        };
        let out = ctx().run(Event::ConfigChanged, state).unwrap();
        assert_eq!(out.unit_status, Some(Status::active("")));
        assert_eq!(out.relations[0].local_app_data["fileset"], "/etc,/srv");
        assert_eq!(out.tool_calls.len(), 6, "{:#?}", out.tool_calls);
    }

    #[test]
    fn action_lists_the_fileset() {
        let state = State {
            config: [("fileset".to_string(), "/etc,/srv".into())].into(),
            action_params: serde_json::json!({"format": "list"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        };
        let event = Event::Action {
            name: "show-fileset".into(),
            id: "1".into(),
        };
        let out = ctx().run(event, state).unwrap();
        assert_eq!(out.action_results["fileset.path1"], "/srv");
    }
}
