//! The keys Marathon 1.4.13's Scala writers produce, read from the source at tag v1.4.13
//! (`src/main/scala/mesosphere/marathon/...`). Each list names its writer; `ALWAYS` keys are
//! written unconditionally, `OPTIONAL` ones when there is a value.

/// `api/v2/json/Formats.scala`, `AppDefWrites`.
pub const APP_ALWAYS: &[&str] = &[
    "id",
    "cmd",
    "args",
    "user",
    "env",
    "instances",
    "cpus",
    "mem",
    "disk",
    "gpus",
    "executor",
    "constraints",
    "uris",
    "fetch",
    "storeUrls",
    "backoffSeconds",
    "backoffFactor",
    "maxLaunchDelaySeconds",
    "container",
    "healthChecks",
    "readinessChecks",
    "dependencies",
    "upgradeStrategy",
    "labels",
    "ipAddress",
    "version",
    "residency",
    "secrets",
    "taskKillGracePeriodSeconds",
    "unreachableStrategy",
    "killSelection",
];

/// `AppDefWrites`: `acceptedResourceRoles` when non-empty; `ports`, `portDefinitions`,
/// `requirePorts` without an `ipAddress`; `versionInfo` for stored apps.
pub const APP_OPTIONAL: &[&str] = &[
    "acceptedResourceRoles",
    "ports",
    "portDefinitions",
    "requirePorts",
    "versionInfo",
];

/// `ExtendedAppInfoWrites` over `TaskCountsWrites` (`/v2/apps` always embeds counts and
/// deployments, `AppsResource.index`).
pub const APP_INFO_ALWAYS: &[&str] = &[
    "tasksStaged",
    "tasksRunning",
    "tasksHealthy",
    "tasksUnhealthy",
    "deployments",
];

/// `ExtendedAppInfoWrites`: the other embeds.
pub const APP_INFO_OPTIONAL: &[&str] = &[
    "readinessCheckResults",
    "tasks",
    "lastTaskFailure",
    "taskStats",
];

/// `TaskWrites` + `EnrichedTaskWrites` for an active task.
pub const TASK_ALWAYS: &[&str] = &[
    "id",
    "state",
    "startedAt",
    "stagedAt",
    "ports",
    "version",
    "appId",
    "slaveId",
    "host",
];

/// `TaskWrites`/`EnrichedTaskWrites`: when non-empty.
pub const TASK_OPTIONAL: &[&str] = &[
    "ipAddresses",
    "localVolumes",
    "servicePorts",
    "healthCheckResults",
];

/// `HealthWrites`.
pub const HEALTH: &[&str] = &[
    "alive",
    "consecutiveFailures",
    "firstSuccess",
    "lastFailure",
    "lastSuccess",
    "lastFailureCause",
    "instanceId",
];

/// `TaskFailureWrites`.
pub const TASK_FAILURE: &[&str] = &[
    "appId",
    "host",
    "message",
    "state",
    "taskId",
    "timestamp",
    "version",
    "slaveId",
];

/// `core/instance/Instance.scala`, `instanceJsonWrites`.
pub const INSTANCE: &[&str] = &[
    "instanceId",
    "agentInfo",
    "tasksMap",
    "runSpecVersion",
    "state",
    "unreachableStrategy",
];

/// `Instance.agentFormat` (`agentId` is an `Option`).
pub const AGENT_INFO: &[&str] = &["host", "agentId", "attributes"];

/// `Instance.instanceStateFormat` (`activeSince`, `healthy` are `Option`s).
pub const INSTANCE_STATE_ALWAYS: &[&str] = &["condition", "since"];
pub const INSTANCE_STATE_OPTIONAL: &[&str] = &["activeSince", "healthy"];

/// `core/task/Task.scala`, `LaunchedEphemeral.launchedEphemeralFormat` and `Status.statusFormat`.
pub const INTERNAL_TASK: &[&str] = &["taskId", "runSpecVersion", "status"];
pub const INTERNAL_STATUS_ALWAYS: &[&str] = &["stagedAt", "condition", "networkInfo"];
pub const INTERNAL_STATUS_OPTIONAL: &[&str] = &["startedAt", "mesosStatus"];

/// `raml/QueueInfoConversion.scala`: a `QueueApp` item.
pub const QUEUE_ITEM_ALWAYS: &[&str] =
    &["count", "delay", "since", "processedOffersSummary", "app"];
pub const QUEUE_ITEM_OPTIONAL: &[&str] = &["lastUnusedOffers"];

/// `ProcessedOffersSummary` (the timestamps are `Option`s).
pub const OFFERS_SUMMARY_ALWAYS: &[&str] = &[
    "processedOffersCount",
    "unusedOffersCount",
    "rejectSummaryLastOffers",
    "rejectSummaryLaunchAttempt",
];
pub const OFFERS_SUMMARY_OPTIONAL: &[&str] = &["lastUnusedOfferAt", "lastUsedOfferAt"];

/// `mesos/NoOfferMatchReason.scala`, `reasonFunnel`: one `DeclinedOfferStep` each, in order.
pub const REASON_FUNNEL: &[&str] = &[
    "UnfulfilledRole",
    "UnfulfilledConstraint",
    "NoCorrespondingReservationFound",
    "InsufficientCpus",
    "InsufficientMemory",
    "InsufficientDisk",
    "InsufficientGpus",
    "InsufficientPorts",
];

/// `raml/AppConversion.scala` `appWriter` through the RAML writers: the keys a queue item's
/// app always has (the others are `None` or `omitEmpty`).
pub const QUEUE_APP_ALWAYS: &[&str] = &[
    "id",
    "backoffFactor",
    "backoffSeconds",
    "cpus",
    "disk",
    "executor",
    "instances",
    "labels",
    "maxLaunchDelaySeconds",
    "mem",
    "gpus",
    "requirePorts",
    "upgradeStrategy",
    "version",
    "versionInfo",
    "killSelection",
    "unreachableStrategy",
];
pub const QUEUE_APP_OPTIONAL: &[&str] = &[
    "acceptedResourceRoles",
    "args",
    "cmd",
    "constraints",
    "container",
    "dependencies",
    "env",
    "fetch",
    "healthChecks",
    "ipAddress",
    "portDefinitions",
    "readinessChecks",
    "residency",
    "secrets",
    "storeUrls",
    "taskKillGracePeriodSeconds",
    "user",
];

/// `DeploymentStepInfoWrites`.
pub const DEPLOYMENT: &[&str] = &[
    "id",
    "version",
    "affectedApps",
    "affectedPods",
    "steps",
    "currentActions",
    "currentStep",
    "totalSteps",
];

/// `ReadinessCheckResultFormat` (`lastResponse` is an `Option`).
pub const READINESS_RESULT_ALWAYS: &[&str] = &["name", "taskId", "ready"];
pub const READINESS_RESULT_OPTIONAL: &[&str] = &["lastResponse"];

/// `api/v2/InfoResource.scala`.
pub const INFO: &[&str] = &[
    "name",
    "version",
    "buildref",
    "elected",
    "leader",
    "frameworkId",
    "marathon_config",
    "zookeeper_config",
    "event_subscriber",
    "http_config",
];

/// `InfoResource.marathonConfigValues` plus `mesos_leader_ui_url`.
pub const MARATHON_CONFIG: &[&str] = &[
    "access_control_allow_origin",
    "checkpoint",
    "decline_offer_duration",
    "default_network_name",
    "env_vars_prefix",
    "executor",
    "failover_timeout",
    "features",
    "framework_name",
    "ha",
    "hostname",
    "launch_token",
    "launch_token_refresh_interval",
    "leader_proxy_connection_timeout_ms",
    "leader_proxy_read_timeout_ms",
    "local_port_max",
    "local_port_min",
    "master",
    "max_instances_per_offer",
    "mesos_heartbeat_failure_threshold",
    "mesos_heartbeat_interval",
    "mesos_leader_ui_url",
    "mesos_role",
    "mesos_user",
    "min_revive_offers_interval",
    "offer_matching_timeout",
    "on_elected_prepare_timeout",
    "reconciliation_initial_delay",
    "reconciliation_interval",
    "revive_offers_for_new_apps",
    "revive_offers_repetitions",
    "scale_apps_initial_delay",
    "scale_apps_interval",
    "store_cache",
    "task_launch_confirm_timeout",
    "task_launch_timeout",
    "task_lost_expunge_initial_delay",
    "task_lost_expunge_interval",
    "task_reservation_timeout",
    "webui_url",
];

/// `InfoResource.zookeeperConfigValues`.
pub const ZOOKEEPER_CONFIG: &[&str] = &[
    "zk",
    "zk_compression",
    "zk_compression_threshold",
    "zk_connection_timeout",
    "zk_max_node_size",
    "zk_max_versions",
    "zk_session_timeout",
    "zk_timeout",
];

/// `core/event/Events.scala` payloads as `Formats.EventFormats` writes them (every event
/// also has `eventType` and `timestamp`).
pub const EVENTS: &[(&str, &[&str])] = &[
    ("event_stream_attached", &["remoteAddress"]),
    ("api_post_event", &["clientIp", "uri", "appDefinition"]),
    (
        "status_update_event",
        &[
            "slaveId",
            "taskId",
            "taskStatus",
            "message",
            "appId",
            "host",
            "ipAddresses",
            "ports",
            "version",
        ],
    ),
    (
        "instance_changed_event",
        &[
            "instanceId",
            "condition",
            "runSpecId",
            "agentId",
            "host",
            "runSpecVersion",
        ],
    ),
    ("group_change_success", &["groupId", "version"]),
    ("group_change_failed", &["groupId", "version", "reason"]),
    ("deployment_info", &["plan", "currentStep"]),
    ("deployment_step_success", &["plan", "currentStep"]),
    ("deployment_success", &["id", "plan"]),
    ("deployment_failed", &["id", "plan"]),
    ("app_terminated_event", &["appId"]),
    (
        "health_status_changed_event",
        &["appId", "instanceId", "version", "alive"],
    ),
    (
        "failed_health_check_event",
        &["appId", "instanceId", "healthCheck"],
    ),
    (
        "instance_health_changed_event",
        &["instanceId", "runSpecId", "healthy", "runSpecVersion"],
    ),
    (
        "unhealthy_instance_kill_event",
        &[
            "appId",
            "taskId",
            "instanceId",
            "version",
            "reason",
            "host",
            "slaveId",
        ],
    ),
];

/// `DeploymentPlanWrites` and `GroupWrites` (the plan's root groups).
pub const PLAN: &[&str] = &["id", "original", "target", "steps", "version"];
pub const GROUP: &[&str] = &["id", "apps", "pods", "groups", "dependencies", "version"];
