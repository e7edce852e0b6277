//! Rendered App JSON text cached per app and embed set for `GET /v2/apps`: an app's entry is
//! dropped whenever [`Cluster::touch`] marks it (its definition, tasks, task health or last
//! failure changed), and apps with a running deployment (their `deployments` and readiness
//! results live outside the app) or asked with `taskStats` (life times move with the clock)
//! are always rendered afresh. The text is exactly `app_json(..).to_string()`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use super::json::Embed;
use super::state::{App, Cluster};

fn embed_key(e: &Embed) -> u8 {
    u8::from(e.tasks)
        | u8::from(e.last_task_failure) << 1
        | u8::from(e.readiness) << 2
        | u8::from(e.task_stats) << 3
}

/// Rendered texts of one app by embed key.
type Texts = Vec<(u8, Arc<str>)>;

/// App id → rendered texts.
#[derive(Debug, Default)]
pub struct JsonCache(RefCell<HashMap<String, Texts>>);

impl JsonCache {
    /// Drops an app's rendered texts.
    pub fn forget(&self, app_id: &str) {
        self.0.borrow_mut().remove(app_id);
    }
}

impl Cluster {
    /// `app_json(app, embed).to_string()`, from the cache when the app has not changed.
    pub fn app_json_text(&self, app: &App, embed: &Embed) -> Arc<str> {
        let id = app.spec.id.as_str();
        // Task statistics hold life times, which move with the clock.
        if embed.task_stats
            || self
                .deployments
                .iter()
                .any(|d| d.affected.iter().any(|a| a == id))
        {
            return self.app_json(app, embed).to_string().into();
        }
        let key = embed_key(embed);
        if let Some(text) = self
            .json_cache
            .0
            .borrow()
            .get(id)
            .and_then(|v| v.iter().find(|(k, _)| *k == key))
        {
            debug_assert_eq!(
                *text.1,
                *self.app_json(app, embed).to_string(),
                "stale cached JSON: {id} changed without touch()"
            );
            return text.1.clone();
        }
        let text: Arc<str> = self.app_json(app, embed).to_string().into();
        self.json_cache
            .0
            .borrow_mut()
            .entry(id.to_string())
            .or_default()
            .push((key, text.clone()));
        text
    }
}
