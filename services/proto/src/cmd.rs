//! Command codes (FastDFS tracker/tracker_proto.h, storage/storage_proto.h).

/// Every response carries this command code.
pub const RESP: u8 = 100;
pub const QUIT: u8 = 82;
pub const ACTIVE_TEST: u8 = 111;
/// Cluster authentication on any internal connection (ferrodfs's own,
/// see `auth`).
pub const AUTH_HELLO: u8 = 241;
pub const AUTH_PROOF: u8 = 242;
/// ferrodfs admin command: run a scrub pass on this storage now and
/// answer its [`crate::cluster::ScrubReport`] as JSON. Needs the cluster
/// secret.
pub const SCRUB: u8 = 243;
/// The cluster status as JSON (ferrodfs's own, see `overview`): what the
/// tracker's status page shows, for `ferrodfs monitor`.
pub const CLUSTER_STATUS: u8 = 244;

// client -> tracker
pub const QUERY_STORE_WITHOUT_GROUP_ONE: u8 = 101;
pub const QUERY_FETCH_ONE: u8 = 102;
pub const QUERY_UPDATE: u8 = 103;
pub const QUERY_STORE_WITH_GROUP_ONE: u8 = 104;
pub const QUERY_FETCH_ALL: u8 = 105;
pub const QUERY_STORE_WITHOUT_GROUP_ALL: u8 = 106;
pub const QUERY_STORE_WITH_GROUP_ALL: u8 = 107;
pub const LIST_ONE_GROUP: u8 = 90;
pub const LIST_ALL_GROUPS: u8 = 91;
pub const LIST_STORAGE: u8 = 92;
pub const DELETE_STORAGE: u8 = 93;
pub const SET_TRUNK_SERVER: u8 = 94;
// FastDFS 6.15.5+ monitoring (see `monitor`)
pub const GET_LEADER: u8 = 95;
pub const TRACKER_CLUSTER_STAT: u8 = 96;
pub const STORAGE_CLUSTER_STAT: u8 = 97;
pub const STORAGE_VOLUME_STAT: u8 = 98;
pub const DELETE_GROUP: u8 = 108;
pub const FETCH_STORAGE_IDS: u8 = 69;
pub const PARAMETER_REQ: u8 = 75;

// client -> storage
pub const UPLOAD_FILE: u8 = 11;
pub const DELETE_FILE: u8 = 12;
pub const SET_METADATA: u8 = 13;
pub const DOWNLOAD_FILE: u8 = 14;
pub const GET_METADATA: u8 = 15;
pub const UPLOAD_SLAVE_FILE: u8 = 21;
pub const QUERY_FILE_INFO: u8 = 22;
pub const UPLOAD_APPENDER_FILE: u8 = 23;
pub const APPEND_FILE: u8 = 24;
pub const MODIFY_FILE: u8 = 34;
pub const TRUNCATE_FILE: u8 = 36;
pub const REGENERATE_APPENDER_FILENAME: u8 = 38;

// storage -> tracker (ferrodfs bodies are JSON, see `cluster`)
pub const STORAGE_JOIN: u8 = 81;
pub const STORAGE_BEAT: u8 = 83;
// sent only by FastDFS storages (binary bodies, see the tracker's
// `commands::fastdfs`)
pub const STORAGE_GET_MY_IP: u8 = 60;
pub const STORAGE_REPORT_DISK_USAGE: u8 = 84;
pub const STORAGE_CHANGE_STATUS: u8 = 59;
pub const STORAGE_GET_SERVER_ID: u8 = 70;
pub const STORAGE_GET_STATUS: u8 = 71;
pub const STORAGE_REPORT_TRUNK_FREE: u8 = 74;
pub const STORAGE_REPORT_TRUNK_FID: u8 = 73;
pub const STORAGE_FETCH_TRUNK_FID: u8 = 72;
pub const STORAGE_REPORT_STATUS: u8 = 76;
pub const STORAGE_CHANGELOG_REQ: u8 = 77;
pub const STORAGE_REPORT_IP_CHANGED: u8 = 78;
pub const STORAGE_SYNC_DEST_QUERY: u8 = 79;
pub const STORAGE_REPLICA_CHG: u8 = 85;
pub const STORAGE_SYNC_SRC_REQ: u8 = 86;
pub const STORAGE_SYNC_DEST_REQ: u8 = 87;
pub const STORAGE_SYNC_NOTIFY: u8 = 88;
pub const STORAGE_SYNC_REPORT: u8 = 89;
pub const STORAGE_GET_GROUP_NAME: u8 = 109;

// storage -> storage (group sync; ferrodfs framing, see `sync`)
pub const SYNC_PUSH: u8 = 240;
// storage -> storage as FastDFS storages push (binary bodies, see the
// storage's `sync::fastdfs`)
pub const REPORT_SERVER_ID: u8 = 9;
pub const SYNC_CREATE_FILE: u8 = 16;
pub const SYNC_DELETE_FILE: u8 = 17;
pub const SYNC_UPDATE_FILE: u8 = 18;
pub const SYNC_CREATE_LINK: u8 = 19;
pub const SYNC_APPEND_FILE: u8 = 25;
pub const SYNC_MODIFY_FILE: u8 = 35;
pub const SYNC_TRUNCATE_FILE: u8 = 37;
pub const SYNC_RENAME_FILE: u8 = 40;
