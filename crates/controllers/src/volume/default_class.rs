//! The StorageClass `berth up` installs so that claims without a class get a volume: berth's
//! local-path provisioner, annotated as the cluster default, waiting for the first consumer
//! (the directory must be on the node the pod lands on), Delete, expandable.

use std::collections::BTreeMap;

use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};

use super::{ANN_IS_DEFAULT_CLASS, LOCAL_PATH_PROVISIONER};

/// The default class as `berth up` creates it.
pub fn local_path_class(name: &str) -> StorageClass {
    StorageClass {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            annotations: Some(BTreeMap::from([(ANN_IS_DEFAULT_CLASS.to_string(), "true".to_string())])),
            ..ObjectMeta::default()
        },
        provisioner: LOCAL_PATH_PROVISIONER.to_string(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        allow_volume_expansion: Some(true),
        ..StorageClass::default()
    }
}

/// Create the default class unless a class of that name exists: a restart keeps whatever the
/// user made of it. Returns whether it was created.
pub async fn ensure(client: kube::Client, name: &str) -> Result<bool, String> {
    let api = Api::<StorageClass>::all(client);
    match api.get_opt(name).await {
        Ok(Some(_)) => return Ok(false),
        Ok(None) => {}
        Err(e) => return Err(format!("reading storageclass {name:?}: {e}")),
    }
    match api.create(&PostParams::default(), &local_path_class(name)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(format!("creating storageclass {name:?}: {e}")),
    }
}
