//! Notices: events recorded by Pebble (custom notices behind `pebble-custom-notice`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::{Client, Method};
use super::duration::GoDuration;
use super::error::Result;
use super::ids::NoticeId;

string_enum! {
    /// The type of a notice.
    pub enum NoticeType {
        /// Recorded when a change is spawned or changes status; the key is the change id.
        ChangeUpdate = "change-update",
        /// Recorded by `pebble notify`; the key looks like `example.com/path`.
        Custom = "custom",
        /// A warning; the key is the message.
        Warning = "warning",
    }
}

/// A notice (`GET /v1/notices/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Notice {
    /// Its id.
    pub id: NoticeId,
    /// The user it belongs to; `None` for public notices.
    #[serde(default)]
    pub user_id: Option<u32>,
    /// Its type.
    #[serde(rename = "type")]
    pub notice_type: NoticeType,
    /// Its key, unique per type (and user).
    pub key: String,
    /// First occurrence (RFC 3339).
    #[serde(default)]
    pub first_occurred: String,
    /// Last occurrence (RFC 3339).
    #[serde(default)]
    pub last_occurred: String,
    /// Last repeat (RFC 3339).
    #[serde(default)]
    pub last_repeated: String,
    /// How many times it occurred.
    #[serde(default)]
    pub occurrences: u64,
    /// Data from the last occurrence.
    #[serde(default)]
    pub last_data: BTreeMap<String, String>,
    /// Minimum time between repeats.
    #[serde(default)]
    pub repeat_after: Option<GoDuration>,
    /// Time after which it is dropped.
    #[serde(default)]
    pub expire_after: Option<GoDuration>,
}

/// Filters for [`Client::notices`].
#[derive(Debug, Clone, Default)]
pub struct NoticesOptions {
    /// Only these types (empty: all).
    pub types: Vec<NoticeType>,
    /// Only these keys (empty: all).
    pub keys: Vec<String>,
    /// Only notices last repeated after this time (RFC 3339).
    pub after: Option<String>,
    /// Notices of all users, not only public ones and the caller's (admin only).
    pub all_users: bool,
    /// Only public notices and those of this user.
    pub user_id: Option<u32>,
}

#[derive(Serialize)]
struct AddNotice<'a> {
    action: &'static str,
    #[serde(rename = "type")]
    notice_type: &'static str,
    key: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    data: &'a BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct AddedNotice {
    id: NoticeId,
}

impl Client {
    /// Notices matching the filters, oldest repeat first.
    pub async fn notices(&self, options: &NoticesOptions) -> Result<Vec<Notice>> {
        let mut query = Vec::new();
        if options.all_users {
            query.push(("users", "all".to_string()));
        }
        if let Some(uid) = options.user_id {
            query.push(("user-id", uid.to_string()));
        }
        for notice_type in &options.types {
            query.push(("types", notice_type.to_string()));
        }
        for key in &options.keys {
            query.push(("keys", key.clone()));
        }
        if let Some(after) = &options.after {
            query.push(("after", after.clone()));
        }
        self.sync_json::<_, ()>(Method::GET, "/v1/notices", &query, None)
            .await
    }

    /// One notice by id, e.g. the one a `pebble-custom-notice` event names.
    pub async fn notice(&self, id: &NoticeId) -> Result<Notice> {
        self.sync_json::<_, ()>(Method::GET, &format!("/v1/notices/{id}"), &[], None)
            .await
    }

    /// Records a custom notice (`key` like `example.com/path`); returns its id.
    pub async fn notify(&self, key: &str, data: &BTreeMap<String, String>) -> Result<NoticeId> {
        let body = AddNotice {
            action: "add",
            notice_type: "custom",
            key,
            data,
        };
        let added: AddedNotice = self
            .sync_json(Method::POST, "/v1/notices", &[], Some(&body))
            .await?;
        Ok(added.id)
    }
}
