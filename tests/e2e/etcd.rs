//! berth on etcd: `berth up --etcd-endpoints` against a throwaway etcd runs the walkthrough's
//! StatefulSet; while etcd is gone kubectl gets a clear 503 Status instead of hanging, and when
//! it is back berth serves again without a restart, and no write it acknowledged is lost.

use std::time::Duration;

use berth_store::etcd::testing::EtcdServer;
use berth_store::Store;

use crate::harness::{eventually, Cluster};
use crate::manifests;

#[test]
fn statefulset_runs_on_etcd_and_a_lost_etcd_is_a_503() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Skips (outside CI) when there is no etcd binary.
    let Some(mut etcd) = runtime.block_on(EtcdServer::start_or_skip()) else { return };
    let c = Cluster::start_with(&["--simulated-nodes", "1", "--etcd-endpoints", etcd.endpoint()]);

    c.ok(&["apply", "-f", &c.manifest("pv.yaml", manifests::PV_LIST)]);
    c.ok(&["apply", "-f", &c.manifest("svc.yaml", manifests::SERVICE)]);
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", &manifests::statefulset("luksa/kubia-pet"))]);
    assert!(
        eventually(Duration::from_secs(90), || {
            let pods = c.ok(&["get", "pods"]);
            (0..3).all(|i| pods.contains(&format!("statefulset-kubia-v1-{i}   1/1     Running")))
        }),
        "{}",
        c.ok(&["get", "pods,pvc,pv"])
    );
    // The objects are in etcd, under upstream's key layout, at the revision kubectl reports.
    let sts = runtime.block_on(async {
        let store = berth_store::EtcdStore::connect(etcd.options()).await.unwrap();
        store.get("/registry/apps/statefulsets/default/statefulset-kubia-v1").await.unwrap()
    });
    let sts = sts.expect("the StatefulSet is stored in etcd");
    let rv = c.ok(&["get", "sts", "statefulset-kubia-v1", "-o", "jsonpath={.metadata.resourceVersion}"]);
    assert!(rv.parse::<i64>().unwrap() >= sts.mod_revision, "{rv} vs {}", sts.mod_revision);

    // Writes race etcd's death: every create kubectl saw acknowledged must survive it.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acknowledged = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut acked = Vec::new();
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let name = format!("ack-{i}");
                if c.kubectl(&["create", "configmap", &name, "--from-literal=i=x", "--request-timeout=10s"]).status.success() {
                    acked.push(name);
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(1500));
        etcd.kill();
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap()
    });
    assert!(!acknowledged.is_empty(), "no create succeeded before etcd died");
    // kubectl's verbose log shows the response code; its error line shows the Status message.
    for args in [&["create", "configmap", "after-etcd", "--from-literal=a=b", "-v=6"][..], &["get", "pods", "-v=6"]] {
        let err = c.fails(args);
        assert!(err.contains("503 Service Unavailable"), "{args:?}: {err}");
        assert!(err.contains("storage unavailable: etcd"), "{args:?}: {err}");
    }

    // etcd back on the same data: berth serves again without a restart, nothing was lost.
    runtime.block_on(etcd.restart());
    assert!(eventually(Duration::from_secs(60), || c.kubectl(&["create", "configmap", "after-etcd", "--from-literal=a=b"]).status.success()));
    let pods = c.ok(&["get", "pods"]);
    assert_eq!(pods.matches("Running").count(), 3, "{pods}");
    let stored = c.ok(&["get", "configmaps", "-o", "name"]);
    for name in &acknowledged {
        assert!(stored.contains(&format!("configmap/{name}\n")), "acknowledged {name} was lost: {stored}");
    }
}
