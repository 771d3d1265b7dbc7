//! The start every worker shares: NATS (streams provisioned, readiness), its store's readiness
//! and pool metrics, any extra readiness checks, and the ops listener.

use sqlx::PgPool;

use crate::args::{CommonArgs, OpsArgs};
use crate::ops::{OpsServer, Readiness};

pub struct Base {
    pub nats: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    pub ops: OpsServer,
}

impl Base {
    /// `name` is the worker's short name (`persist`); its NATS connection is `parley-<name>`.
    pub async fn start(
        common: &CommonArgs,
        ops: &OpsArgs,
        name: &'static str,
        db: Option<&PgPool>,
        checks: impl FnOnce(&Readiness),
    ) -> anyhow::Result<Self> {
        let crate::nats::Fabric {
            nats,
            js,
            readiness,
        } = crate::nats::Fabric::connect(common, &format!("parley-{name}")).await?;
        if let Some(db) = db {
            crate::db::ready_check(&readiness, db.clone());
        }
        checks(&readiness);
        let ops = OpsServer::start(ops.ops_listen, readiness).await?;
        if let Some(db) = db {
            crate::db::export_pool_metrics(db.clone(), name, ops.stop_token());
        }
        Ok(Self { nats, js, ops })
    }
}
