//! Event recording as client-go's `tools/record` does it: an Event named
//! `<object>.<unix-nanos in hex>` in the object's namespace; a repeat of the same
//! (object, type, reason, message, source) within the cache's life patches that Event's
//! `count` and `lastTimestamp` instead of creating another, which is what makes
//! `kubectl describe` print `x13 over 2m`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    namespace: String,
    kind: String,
    name: String,
    uid: String,
    type_: EventType,
    reason: String,
    message: String,
}

struct Seen {
    event_name: String,
    count: i32,
}

/// Cheap to clone; events are sent in the background and never block the caller.
#[derive(Clone)]
pub struct EventRecorder {
    client: kube::Client,
    component: String,
    host: String,
    seen: Arc<Mutex<HashMap<Key, Seen>>>,
}

/// Upper bound on remembered event keys before the cache is reset (client-go uses an LRU of 4096).
const MAX_REMEMBERED: usize = 4096;

impl EventRecorder {
    pub fn new(client: kube::Client, component: &str) -> EventRecorder {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        EventRecorder { client, component: component.to_string(), host, seen: Default::default() }
    }

    /// Record an event about `object` (its kind, namespace, name, uid and apiVersion must be set).
    pub fn record(&self, object: ObjectReference, type_: EventType, reason: &str, message: &str) {
        let this = self.clone();
        let (reason, message) = (reason.to_string(), message.to_string());
        tokio::spawn(async move {
            if let Err(e) = this.send(object, type_, &reason, &message).await {
                tracing::warn!(component = %this.component, %reason, error = %e, "could not record event");
            }
        });
    }

    async fn send(&self, object: ObjectReference, type_: EventType, reason: &str, message: &str) -> Result<(), kube::Error> {
        // Cluster-scoped objects' events go to `default`, as client-go does.
        let namespace = object.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
        let key = Key {
            namespace: namespace.clone(),
            kind: object.kind.clone().unwrap_or_default(),
            name: object.name.clone().unwrap_or_default(),
            uid: object.uid.clone().unwrap_or_default(),
            type_,
            reason: reason.to_string(),
            message: message.to_string(),
        };
        let now = chrono::Utc::now();
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let repeat = {
            let mut seen = self.seen.lock().expect("event cache lock");
            match seen.get_mut(&key) {
                Some(s) => {
                    s.count += 1;
                    Some((s.event_name.clone(), s.count))
                }
                None => None,
            }
        };
        if let Some((name, count)) = repeat {
            let patch = serde_json::json!({"count": count, "lastTimestamp": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "message": message});
            match api.patch(&name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                Ok(_) => return Ok(()),
                // The event expired or was deleted: fall through and create a new one.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event_name = format!(
            "{}.{:x}",
            key.name,
            now.timestamp_nanos_opt().unwrap_or_default()
        );
        let stamp = Time(k8s_openapi::jiff::Timestamp::from_second(now.timestamp()).expect("current time is in range"));
        let event = Event {
            metadata: ObjectMeta { name: Some(event_name.clone()), namespace: Some(namespace), ..Default::default() },
            involved_object: object,
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(type_.as_str().to_string()),
            source: Some(EventSource { component: Some(self.component.clone()), host: None }),
            first_timestamp: Some(stamp.clone()),
            last_timestamp: Some(stamp),
            count: Some(1),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.host.clone()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &event).await?;
        let mut seen = self.seen.lock().expect("event cache lock");
        if seen.len() >= MAX_REMEMBERED {
            seen.clear();
        }
        seen.insert(key, Seen { event_name, count: 1 });
        Ok(())
    }
}

/// upstream's `reference.GetReference`: what an event's `involvedObject` names — kind, API
/// version, name, namespace, uid and the resourceVersion the event is about.
pub fn reference<K: kube::Resource<DynamicType = ()>>(o: &K) -> ObjectReference {
    ObjectReference { resource_version: o.meta().resource_version.clone(), ..o.object_ref(&()) }
}
