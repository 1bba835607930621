//! What each registry wants as `Authorization`, learnt from its challenges, and the bearer
//! tokens obtained for each (registry, scope).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Url;
use tokio::sync::Mutex;

use super::challenge::{Challenge, parse_challenges};
use crate::auth::{CredentialStore, Credentials};
use crate::error::{Error, Timeouts};

/// The access a request needs, in token-service syntax
/// (`repository:library/nginx:pull` ...). Kept sorted so equal scopes share a token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope(Vec<String>);

impl Scope {
    pub fn pull(repository: &str) -> Self {
        Scope(vec![format!("repository:{repository}:pull")])
    }

    pub fn push(repository: &str) -> Self {
        Scope(vec![format!("repository:{repository}:pull,push")])
    }

    /// Push to `repository` and pull from `from`: a cross-repository mount.
    pub fn mount(repository: &str, from: &str) -> Self {
        let mut v = vec![
            format!("repository:{repository}:pull,push"),
            format!("repository:{from}:pull"),
        ];
        v.sort();
        Scope(v)
    }
}

#[derive(Clone, Debug)]
enum Scheme {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

struct Token {
    value: String,
    expires: Instant,
}

/// Per-client authentication state.
pub struct AuthState {
    credentials: CredentialStore,
    timeouts: Timeouts,
    schemes: std::sync::Mutex<HashMap<String, Scheme>>,
    // Async: one token fetch at a time, so concurrent blob copies don't each fetch one.
    tokens: Mutex<HashMap<(String, Scope), Token>>,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl AuthState {
    pub(crate) fn new(credentials: CredentialStore, timeouts: Timeouts) -> Self {
        AuthState {
            credentials,
            timeouts,
            schemes: Default::default(),
            tokens: Default::default(),
        }
    }

    /// The `Authorization` value for a request to `registry` needing `scope`, fetching a
    /// token if the registry uses bearer tokens. `None` before the registry has challenged.
    pub async fn header(
        &self,
        http: &reqwest::Client,
        registry: &str,
        scope: &Scope,
    ) -> Result<Option<String>, Error> {
        let credentials = self.credentials.get(registry);
        if let Some(Credentials::RegistryToken(token)) = credentials {
            return Ok(Some(format!("Bearer {token}")));
        }
        let scheme = self.lock_schemes().get(registry).cloned();
        match scheme {
            None => Ok(None),
            Some(Scheme::Basic) => Ok(credentials.and_then(Credentials::basic_header)),
            Some(Scheme::Bearer { realm, service }) => {
                let key = (registry.to_owned(), scope.clone());
                let mut tokens = self.tokens.lock().await;
                if let Some(token) = tokens.get(&key)
                    && token.expires > Instant::now()
                {
                    return Ok(Some(format!("Bearer {}", token.value)));
                }
                let token = fetch_token(
                    http,
                    self.timeouts,
                    registry,
                    &realm,
                    service.as_deref(),
                    scope,
                    credentials,
                )
                .await?;
                let header = format!("Bearer {}", token.value);
                tokens.insert(key, token);
                Ok(Some(header))
            }
        }
    }

    /// Learns from a 401: records the registry's scheme and drops the refused token.
    /// Errors when the registry offers no scheme we speak.
    pub async fn unauthorized(
        &self,
        registry: &str,
        scope: &Scope,
        www_authenticate: Vec<&str>,
    ) -> Result<(), Error> {
        let challenges = parse_challenges(www_authenticate.iter().copied());
        let scheme = challenges
            .into_iter()
            .map(|c| match c {
                Challenge::Basic => Scheme::Basic,
                Challenge::Bearer { realm, service, .. } => Scheme::Bearer { realm, service },
            })
            .next()
            .ok_or_else(|| Error::Auth {
                registry: registry.to_owned(),
                detail: format!(
                    "unauthorized, and no supported challenge in WWW-Authenticate {www_authenticate:?}"
                ),
            })?;
        self.lock_schemes().insert(registry.to_owned(), scheme);
        self.tokens
            .lock()
            .await
            .remove(&(registry.to_owned(), scope.clone()));
        Ok(())
    }

    pub fn has_credentials(&self, registry: &str) -> bool {
        self.credentials.get(registry).is_some()
    }

    fn lock_schemes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Scheme>> {
        // A poisoned map of learnt schemes is still a valid map.
        self.schemes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn fetch_token(
    http: &reqwest::Client,
    timeouts: Timeouts,
    registry: &str,
    realm: &str,
    service: Option<&str>,
    scope: &Scope,
    credentials: Option<&Credentials>,
) -> Result<Token, Error> {
    let auth_err = |detail: String| Error::Auth {
        registry: registry.to_owned(),
        detail,
    };
    let mut url = Url::parse(realm)
        .map_err(|e| auth_err(format!("token realm {realm:?} is not a URL: {e}")))?;
    let request = match credentials {
        Some(Credentials::IdentityToken(refresh)) => {
            // OAuth2 refresh-token grant (Docker's `identitytoken`).
            let mut form =
                Url::parse("http://form.invalid/").map_err(|e| auth_err(e.to_string()))?;
            {
                let mut q = form.query_pairs_mut();
                q.append_pair("grant_type", "refresh_token");
                q.append_pair("refresh_token", refresh);
                q.append_pair("client_id", "image-backup");
                if let Some(service) = service {
                    q.append_pair("service", service);
                }
                q.append_pair("scope", &scope.0.join(" "));
            }
            http.post(url.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.query().unwrap_or_default().to_owned())
        }
        other => {
            {
                let mut q = url.query_pairs_mut();
                if let Some(service) = service {
                    q.append_pair("service", service);
                }
                for s in &scope.0 {
                    q.append_pair("scope", s);
                }
            }
            let mut request = http.get(url.clone());
            if let Some(header) = other.and_then(Credentials::basic_header) {
                request = request.header(reqwest::header::AUTHORIZATION, header);
            }
            request
        }
    };
    super::count_request();
    let response = request
        .send()
        .await
        .map_err(|source| Error::transport("GET", realm, source, timeouts))?;
    let status = response.status();
    if !status.is_success() {
        let body = super::body_excerpt(response).await;
        return Err(auth_err(format!(
            "token service {realm} answered {status} for {:?}: {body}",
            scope.0
        )));
    }
    let body: TokenResponse = response
        .json()
        .await
        .map_err(|e| auth_err(format!("token service {realm} sent no token: {e}")))?;
    let value = body
        .token
        .or(body.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| auth_err(format!("token service {realm} sent an empty token")))?;
    // The spec's default lifetime is 60 s; renew a little early.
    let lifetime = Duration::from_secs(body.expires_in.unwrap_or(60).max(10));
    Ok(Token {
        value,
        expires: Instant::now() + lifetime - lifetime / 10,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_share_tokens_when_equal() {
        assert_eq!(Scope::mount("a", "b"), Scope::mount("a", "b"));
        assert_ne!(Scope::pull("a"), Scope::push("a"));
        assert_eq!(
            Scope::mount("z", "a").0,
            ["repository:a:pull", "repository:z:pull,push"]
        );
    }

    #[tokio::test]
    async fn registry_tokens_are_sent_as_is_and_basic_after_challenge() {
        let mut store = CredentialStore::new();
        store.insert("tok.example", Credentials::RegistryToken("t0k".into()));
        store.insert("basic.example", Credentials::basic("a", "b"));
        let state = AuthState::new(
            store,
            Timeouts {
                connect: std::time::Duration::from_secs(1),
                read: std::time::Duration::from_secs(1),
            },
        );
        let http = reqwest::Client::new();
        let scope = Scope::pull("r");
        assert_eq!(
            state.header(&http, "tok.example", &scope).await.unwrap(),
            Some("Bearer t0k".into())
        );
        assert_eq!(
            state.header(&http, "basic.example", &scope).await.unwrap(),
            None
        );
        state
            .unauthorized("basic.example", &scope, vec![r#"Basic realm="x""#])
            .await
            .unwrap();
        assert_eq!(
            state.header(&http, "basic.example", &scope).await.unwrap(),
            Some("Basic YTpi".into())
        );
        let err = state
            .unauthorized("basic.example", &scope, vec!["Negotiate"])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no supported challenge"), "{err}");
    }
}
