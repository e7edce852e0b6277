//! Service ports as Marathon 1.4.13 assigns and writes them
//! (`core/group/impl/GroupManagerActor.scala` `assignDynamicServicePorts`,
//! `api/v2/json/Formats.scala` `AppDefWrites`, `state/AppDefinition.scala` `servicePorts`).

use serde_json::json;

use super::harness::{Harness, docker_app};

/// A BRIDGE app keeps its (default) port definition and gets one per port mapping, each
/// carrying the mapping's service port; `ports` lists them; `GET /v2/tasks` shows them.
#[tokio::test]
async fn bridge_apps_keep_port_definitions_filled_with_service_ports() {
    let h = Harness::start().await;
    let mut app = docker_app("/svc/main", 1);
    app["container"]["docker"]["portMappings"] = json!([
        { "containerPort": 8888, "hostPort": 0 },
        { "containerPort": 9999, "hostPort": 0, "servicePort": 10500 },
    ]);
    let created = h.create(app).await.body;
    // The 201 shows the submitted app (AppsResource.create): the dynamic port is still 0.
    assert_eq!(created["ports"], json!([0, 10500]));
    let app = h.get("/v2/apps/svc/main").await.body["app"].clone();
    let mappings = &app["container"]["docker"]["portMappings"];
    assert_eq!(mappings[0]["servicePort"], 10000);
    assert_eq!(mappings[1]["servicePort"], 10500);
    assert_eq!(app["ports"], json!([10000, 10500]));
    assert_eq!(
        app["portDefinitions"],
        json!([
            { "port": 10000, "protocol": "tcp", "name": "default", "labels": {} },
            { "port": 10500, "protocol": "tcp", "labels": {} },
        ])
    );
    h.tick(2);
    let task = h.get("/v2/tasks").await.body["tasks"][0].clone();
    assert_eq!(task["servicePorts"], json!([10000, 10500]));
    assert_eq!(
        task["ports"].as_array().map(Vec::len),
        Some(2),
        "host ports: mappings only"
    );
}

/// An update keeps the service ports the old definition had (`assignedAndAvailable`); new
/// apps get the lowest free port of `[local_port_min, local_port_max)`.
#[tokio::test]
async fn updates_reuse_service_ports_and_new_apps_take_the_lowest_free() {
    let h = Harness::start().await;
    h.create(json!({ "id": "/a", "cmd": "x", "ports": [0, 0] }))
        .await;
    h.create(json!({ "id": "/b", "cmd": "x" })).await;
    h.settle(5);
    let a = h.get("/v2/apps/a").await.body["app"]["ports"].clone();
    let b = h.get("/v2/apps/b").await.body["app"]["ports"].clone();
    assert_eq!((a, b), (json!([10000, 10001]), json!([10002])));
    h.put(
        "/v2/apps/a",
        json!({ "cmd": "y", "portDefinitions": [{ "port": 0 }] }),
    )
    .await;
    let a = h.get("/v2/apps/a").await.body["app"].clone();
    assert_eq!(a["ports"], json!([10000]));
    h.delete("/v2/apps/b").await;
    h.create(json!({ "id": "/c", "cmd": "x", "ports": [0, 0] }))
        .await;
    let c = h.get("/v2/apps/c").await.body["app"]["ports"].clone();
    assert_eq!(c, json!([10001, 10002]));
}
