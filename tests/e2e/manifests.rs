//! The walkthrough's manifests (`shared/seed/statefulset-walkthrough.md`), verbatim apart
//! from comments. The PVs name an NFS server that does not exist here; nothing mounts them.

pub const PV_LIST: &str = r#"apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: PersistentVolume
    metadata:
      name: pv-1
    spec:
       capacity:
         storage: 1Gi
       accessModes:
         - ReadWriteOnce
       persistentVolumeReclaimPolicy: Recycle
       storageClassName: nfs
       nfs:
         path: /data/k8s/pv-1
         server: 172.16.20.1

  - apiVersion: v1
    kind: PersistentVolume
    metadata:
      name: pv-2
    spec:
       capacity:
         storage: 1Gi
       accessModes:
         - ReadWriteOnce
       persistentVolumeReclaimPolicy: Recycle
       storageClassName: nfs
       nfs:
         path: /data/k8s/pv-2
         server: 172.16.20.1

  - apiVersion: v1
    kind: PersistentVolume
    metadata:
      name: pv-3
    spec:
       capacity:
         storage: 1Gi
       accessModes:
         - ReadWriteOnce
       persistentVolumeReclaimPolicy: Recycle
       storageClassName: nfs
       nfs:
         path: /data/k8s/pv-3
         server: 172.16.20.1
"#;

pub const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: statefulset-kubia-svc
spec:
  clusterIP: None
  selector:
    app: statefulset-kubia
  ports:
    - name: http
      port: 80
"#;

pub fn statefulset(image: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: statefulset-kubia-v1
spec:
  serviceName: statefulset-kubia-v1
  replicas: 3
  selector:
    matchLabels:
       app: statefulset-kubia

  template:
    metadata:
      labels:
        app: statefulset-kubia

    spec:
      containers:
      - name: statefulset-kubia
        image: {image}
        ports:
          - name: http
            containerPort: 8080
        volumeMounts:
            - name: data
              mountPath: /var/data

  volumeClaimTemplates:
       - metadata:
           name: data
         spec:
           resources:
              requests:
                 storage: 1Gi
           storageClassName: nfs
           accessModes:
             - ReadWriteOnce
"#
    )
}
