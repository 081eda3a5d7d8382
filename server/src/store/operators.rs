//! Operators (migration `0014_operators`): tenants' operator access,
//! SCIM users and groups, console sessions, sign-ins under way, and the
//! cut-offs that refuse a person's older tokens.

use lictor_api::ids::TenantId;
use sqlx::Row;

use super::{Store, StoreResult, StoreTx, corrupt, tenant_column};
use crate::clock::Timestamp;

/// A tenant's operator access, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorAccessRow {
    /// The tenant.
    pub tenant: TenantId,
    /// The provider its people sign in with.
    pub provider: Option<String>,
    /// The role mappings and step-up policy (JSON).
    pub settings: String,
    /// Whether a SCIM token was issued.
    pub scim: bool,
    /// When it changed.
    pub updated_at: Timestamp,
}

fn access_from_row(row: &sqlx::any::AnyRow) -> StoreResult<OperatorAccessRow> {
    Ok(OperatorAccessRow {
        tenant: tenant_column(row)?,
        provider: row.try_get("provider")?,
        settings: row.try_get("settings")?,
        scim: row.try_get::<Option<String>, _>("scim_token_hash")?.is_some(),
        updated_at: row.try_get("updated_at")?,
    })
}

/// A SCIM user, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimUserRow {
    /// The tenant.
    pub tenant: TenantId,
    /// Its id (`usr_…`).
    pub id: String,
    /// `userName`.
    pub user_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `active`.
    pub active: bool,
    /// The SCIM resource's attributes (JSON).
    pub resource: String,
    /// Bumped by every change (the `ETag`).
    pub version: i64,
    /// Made.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

fn user_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ScimUserRow> {
    Ok(ScimUserRow {
        tenant: tenant_column(row)?,
        id: row.try_get("id")?,
        user_name: row.try_get("user_name")?,
        external_id: row.try_get("external_id")?,
        active: row.try_get::<i64, _>("active")? != 0,
        resource: row.try_get("resource")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const USER_COLUMNS: &str =
    "tenant_id, id, user_name, external_id, active, resource, version, created_at, updated_at";

/// A SCIM group, as stored (members apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimGroupRow {
    /// The tenant.
    pub tenant: TenantId,
    /// Its id (`grp_…`).
    pub id: String,
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Bumped by every change.
    pub version: i64,
    /// Made.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

fn group_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ScimGroupRow> {
    Ok(ScimGroupRow {
        tenant: tenant_column(row)?,
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        external_id: row.try_get("external_id")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const GROUP_COLUMNS: &str = "tenant_id, id, display_name, external_id, version, created_at, updated_at";

/// A console session, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// Its id.
    pub id: String,
    /// The MAC binding the row to its secret (`crate::operators::sessions`).
    pub mac: String,
    /// The provider's name.
    pub provider: String,
    /// The person's issuer.
    pub issuer: String,
    /// The person's subject.
    pub subject: String,
    /// Their user name, lowercased.
    pub username_key: Option<String>,
    /// The person (JSON).
    pub person: String,
    /// Their groups at sign-in (JSON array).
    pub groups: String,
    /// When they authenticated.
    pub auth_time: Option<i64>,
    /// Their sign-in's `acr`.
    pub acr: Option<String>,
    /// Their sign-in's `amr` (JSON array).
    pub amr: String,
    /// The CSRF token.
    pub csrf_token: String,
    /// Began.
    pub created_at: Timestamp,
    /// Ends at the latest.
    pub expires_at: Timestamp,
    /// Last used (to a minute).
    pub last_seen_at: Timestamp,
    /// Ended (sign-out, an administrator, SCIM).
    pub ended_at: Option<Timestamp>,
}

const SESSION_COLUMNS: &str = "id, mac, provider, issuer, subject, username_key, person, groups_json, auth_time, \
     acr, amr, csrf_token, created_at, expires_at, last_seen_at, ended_at";

fn session_from_row(row: &sqlx::any::AnyRow) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        id: row.try_get("id")?,
        mac: row.try_get("mac")?,
        provider: row.try_get("provider")?,
        issuer: row.try_get("issuer")?,
        subject: row.try_get("subject")?,
        username_key: row.try_get("username_key")?,
        person: row.try_get("person")?,
        groups: row.try_get("groups_json")?,
        auth_time: row.try_get("auth_time")?,
        acr: row.try_get("acr")?,
        amr: row.try_get("amr")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

/// A sign-in under way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRow {
    /// SHA-256 of its `state`.
    pub state_hash: String,
    /// The provider.
    pub provider: String,
    /// The nonce sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub verifier: String,
    /// SHA-256 of the browser binding cookie.
    pub binding_hash: String,
    /// Where the browser goes once signed in.
    pub return_to: String,
    /// The `max_age` asked.
    pub max_age: Option<i64>,
    /// The `acr_values` asked (space-separated).
    pub acr_values: Option<String>,
    /// Began.
    pub created_at: Timestamp,
    /// Unusable after.
    pub expires_at: Timestamp,
}

impl Store {
    /// A tenant's operator access.
    pub async fn operator_access(&self, tenant: &TenantId) -> StoreResult<Option<OperatorAccessRow>> {
        let row = sqlx::query(
            "SELECT tenant_id, provider, settings, scim_token_hash, updated_at FROM operator_access WHERE tenant_id = $1",
        )
        .bind(tenant.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(access_from_row).transpose()
    }

    /// The operator access of every tenant whose people sign in with
    /// `provider`.
    pub async fn operator_access_by_provider(&self, provider: &str) -> StoreResult<Vec<OperatorAccessRow>> {
        let rows = sqlx::query(
            "SELECT tenant_id, provider, settings, scim_token_hash, updated_at FROM operator_access \
             WHERE provider = $1 ORDER BY tenant_id",
        )
        .bind(provider)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(access_from_row).collect()
    }

    /// The tenant whose SCIM token hashes to `hash`.
    pub async fn scim_tenant(&self, hash: &str) -> StoreResult<Option<TenantId>> {
        let row = sqlx::query("SELECT tenant_id FROM operator_access WHERE scim_token_hash = $1")
            .bind(hash)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(tenant_column).transpose()
    }

    /// A tenant's SCIM user with user name `key` (lowercased).
    pub async fn scim_user_by_name(&self, tenant: &TenantId, key: &str) -> StoreResult<Option<ScimUserRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM scim_users WHERE tenant_id = $1 AND user_name_key = $2"
        )))
        .bind(tenant.as_str())
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A tenant's SCIM user.
    pub async fn scim_user(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<ScimUserRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM scim_users WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A tenant's SCIM users, by id (at most `limit`).
    pub async fn scim_users(&self, tenant: &TenantId, limit: u32) -> StoreResult<Vec<ScimUserRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM scim_users WHERE tenant_id = $1 ORDER BY created_at, id LIMIT $2"
        )))
        .bind(tenant.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// How many SCIM users a tenant has.
    pub async fn count_scim_users(&self, tenant: &TenantId) -> StoreResult<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM scim_users WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_one(self.pool())
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// A tenant's SCIM group.
    pub async fn scim_group(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<ScimGroupRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM scim_groups WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(group_from_row).transpose()
    }

    /// A tenant's SCIM groups (at most `limit`).
    pub async fn scim_groups(&self, tenant: &TenantId, limit: u32) -> StoreResult<Vec<ScimGroupRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM scim_groups WHERE tenant_id = $1 ORDER BY created_at, id LIMIT $2"
        )))
        .bind(tenant.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    /// How many SCIM groups a tenant has.
    pub async fn count_scim_groups(&self, tenant: &TenantId) -> StoreResult<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM scim_groups WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_one(self.pool())
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// The members (user ids) of a tenant's group.
    pub async fn scim_group_members(&self, tenant: &TenantId, group: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT user_id FROM scim_members WHERE tenant_id = $1 AND group_id = $2 ORDER BY user_id",
        )
        .bind(tenant.as_str())
        .bind(group)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("user_id")?)).collect()
    }

    /// Every membership of a tenant: (user id, group id, group name).
    pub async fn scim_memberships(&self, tenant: &TenantId) -> StoreResult<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT m.user_id, g.id, g.display_name FROM scim_members m JOIN scim_groups g \
             ON g.tenant_id = m.tenant_id AND g.id = m.group_id WHERE m.tenant_id = $1 ORDER BY g.display_name",
        )
        .bind(tenant.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("user_id")?, r.try_get("id")?, r.try_get("display_name")?)))
            .collect()
    }

    /// A group's members with their user names.
    pub async fn scim_named_members(
        &self,
        tenant: &TenantId,
        group: &str,
    ) -> StoreResult<Vec<(String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.user_name FROM scim_members m LEFT JOIN scim_users u \
             ON u.tenant_id = m.tenant_id AND u.id = m.user_id WHERE m.tenant_id = $1 AND m.group_id = $2 \
             ORDER BY m.user_id",
        )
        .bind(tenant.as_str())
        .bind(group)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("user_id")?, r.try_get("user_name")?))).collect()
    }

    /// The groups (id, display name) a tenant's user is a member of.
    pub async fn scim_groups_of(&self, tenant: &TenantId, user: &str) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT g.id, g.display_name FROM scim_members m JOIN scim_groups g \
             ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
             WHERE m.tenant_id = $1 AND m.user_id = $2 ORDER BY g.display_name",
        )
        .bind(tenant.as_str())
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("display_name")?))).collect()
    }

    /// A session.
    pub async fn operator_session(&self, id: &str) -> StoreResult<Option<SessionRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM operator_sessions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// The live sessions of people whose user name at `provider` is `key`.
    pub async fn sessions_by_username(&self, provider: &str, key: &str) -> StoreResult<Vec<SessionRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM operator_sessions \
             WHERE provider = $1 AND username_key = $2 AND ended_at IS NULL"
        )))
        .bind(provider)
        .bind(key)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// The live sessions of `provider`'s people.
    pub async fn live_sessions_of_provider(
        &self,
        provider: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM operator_sessions \
             WHERE provider = $1 AND ended_at IS NULL AND expires_at > $2 ORDER BY created_at"
        )))
        .bind(provider)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Marks a session used now (at most once a minute).
    pub async fn touch_session(&self, id: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE operator_sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $3")
            .bind(now)
            .bind(id)
            .bind(Timestamp::from_micros(now.micros() - 60_000_000))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a new session.
    pub async fn insert_session(&self, row: &SessionRow) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO operator_sessions ({SESSION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        )))
        .bind(&row.id)
        .bind(&row.mac)
        .bind(&row.provider)
        .bind(&row.issuer)
        .bind(&row.subject)
        .bind(&row.username_key)
        .bind(&row.person)
        .bind(&row.groups)
        .bind(row.auth_time)
        .bind(&row.acr)
        .bind(&row.amr)
        .bind(&row.csrf_token)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.last_seen_at)
        .bind(row.ended_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends one session (whether it was live).
    pub async fn end_session(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE operator_sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The tenants that cut a person off, and when: by their issuer and
    /// subject, or by their user name at `provider`.
    pub async fn operator_cutoffs(
        &self,
        (issuer, subject): (&str, &str),
        (provider, username_key): (&str, Option<&str>),
    ) -> StoreResult<Vec<(TenantId, i64)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, not_before FROM operator_cutoffs WHERE issuer = $1 AND subject = $2 \
             UNION ALL SELECT tenant_id, not_before FROM operator_name_cutoffs \
             WHERE provider = $3 AND username_key = $4",
        )
        .bind(issuer)
        .bind(subject)
        .bind(provider)
        .bind(username_key.unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((tenant_column(r)?, r.try_get("not_before")?))).collect()
    }

    /// How many sign-ins are under way.
    pub async fn pending_logins(&self, now: Timestamp) -> StoreResult<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM oidc_logins WHERE expires_at > $1")
            .bind(now)
            .fetch_one(self.pool())
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// Records a sign-in under way.
    pub async fn insert_login(&self, row: &LoginRow) -> StoreResult<()> {
        // Sign-ins nobody finished go as new ones come.
        sqlx::query("DELETE FROM oidc_logins WHERE expires_at < $1")
            .bind(row.created_at)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO oidc_logins (state_hash, provider, nonce, verifier, binding_hash, return_to, max_age, \
             acr_values, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.state_hash)
        .bind(&row.provider)
        .bind(&row.nonce)
        .bind(&row.verifier)
        .bind(&row.binding_hash)
        .bind(&row.return_to)
        .bind(row.max_age)
        .bind(&row.acr_values)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes the sign-in whose state hashes to `state_hash`: it is deleted
    /// in the same statement, so it is used at most once.
    pub async fn take_login(&self, state_hash: &str) -> StoreResult<Option<LoginRow>> {
        let row = sqlx::query(
            "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING state_hash, provider, nonce, verifier, \
             binding_hash, return_to, max_age, acr_values, created_at, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(LoginRow {
                state_hash: r.try_get("state_hash")?,
                provider: r.try_get("provider")?,
                nonce: r.try_get("nonce")?,
                verifier: r.try_get("verifier")?,
                binding_hash: r.try_get("binding_hash")?,
                return_to: r.try_get("return_to")?,
                max_age: r.try_get("max_age")?,
                acr_values: r.try_get("acr_values")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }
}

impl StoreTx {
    /// Replaces a tenant's operator access (keeping its SCIM token).
    pub async fn put_operator_access(
        &mut self,
        tenant: &TenantId,
        provider: Option<&str>,
        settings: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO operator_access (tenant_id, provider, settings, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET provider = $2, settings = $3, updated_at = $4",
        )
        .bind(tenant.as_str())
        .bind(provider)
        .bind(settings)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Sets a tenant's SCIM token hash (the previous one stops working).
    pub async fn set_scim_token(&mut self, tenant: &TenantId, hash: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO operator_access (tenant_id, provider, settings, scim_token_hash, scim_token_created_at, \
             updated_at) VALUES ($1, NULL, '{}', $2, $3, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET scim_token_hash = $2, scim_token_created_at = $3",
        )
        .bind(tenant.as_str())
        .bind(hash)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// A tenant's SCIM user, locked for change.
    pub async fn lock_scim_user(&mut self, tenant: &TenantId, id: &str) -> StoreResult<Option<ScimUserRow>> {
        let lock = self.backend().for_update();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM scim_users WHERE tenant_id = $1 AND id = $2{lock}"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Adds a SCIM user (`Duplicate` when its user name is taken).
    pub async fn insert_scim_user(&mut self, row: &ScimUserRow) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO scim_users ({USER_COLUMNS}, user_name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(row.tenant.as_str())
        .bind(&row.id)
        .bind(&row.user_name)
        .bind(&row.external_id)
        .bind(i64::from(row.active))
        .bind(&row.resource)
        .bind(row.version)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.user_name.to_lowercase())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Replaces a SCIM user (`Duplicate` when its new user name is taken).
    pub async fn update_scim_user(&mut self, row: &ScimUserRow) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE scim_users SET user_name = $1, user_name_key = $2, external_id = $3, active = $4, \
             resource = $5, version = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9",
        )
        .bind(&row.user_name)
        .bind(row.user_name.to_lowercase())
        .bind(&row.external_id)
        .bind(i64::from(row.active))
        .bind(&row.resource)
        .bind(row.version)
        .bind(row.updated_at)
        .bind(row.tenant.as_str())
        .bind(&row.id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a SCIM user and their memberships.
    pub async fn delete_scim_user(&mut self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
        sqlx::query("DELETE FROM scim_members WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(self.conn())
            .await?;
        let done = sqlx::query("DELETE FROM scim_users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A tenant's SCIM group, locked for change.
    pub async fn lock_scim_group(
        &mut self,
        tenant: &TenantId,
        id: &str,
    ) -> StoreResult<Option<ScimGroupRow>> {
        let lock = self.backend().for_update();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM scim_groups WHERE tenant_id = $1 AND id = $2{lock}"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(group_from_row).transpose()
    }

    /// Adds or replaces a SCIM group (members apart; `Duplicate` when its
    /// name is another group's).
    pub async fn upsert_scim_group(&mut self, row: &ScimGroupRow) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO scim_groups ({GROUP_COLUMNS}, display_name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = $3, external_id = $4, version = $5, \
             updated_at = $7, display_name_key = $8"
        )))
        .bind(row.tenant.as_str())
        .bind(&row.id)
        .bind(&row.display_name)
        .bind(&row.external_id)
        .bind(row.version)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.display_name.to_lowercase())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Deletes a SCIM group and its memberships.
    pub async fn delete_scim_group(&mut self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
        sqlx::query("DELETE FROM scim_members WHERE tenant_id = $1 AND group_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(self.conn())
            .await?;
        let done = sqlx::query("DELETE FROM scim_groups WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The members of a group, in the transaction.
    pub async fn scim_members(&mut self, tenant: &TenantId, group: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT user_id FROM scim_members WHERE tenant_id = $1 AND group_id = $2 ORDER BY user_id",
        )
        .bind(tenant.as_str())
        .bind(group)
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("user_id")?)).collect()
    }

    /// Adds a member (nothing when it is one).
    pub async fn add_scim_member(&mut self, tenant: &TenantId, group: &str, user: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scim_members (tenant_id, group_id, user_id) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, group_id, user_id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(group)
        .bind(user)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Removes a member.
    pub async fn remove_scim_member(
        &mut self,
        tenant: &TenantId,
        group: &str,
        user: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM scim_members WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3")
            .bind(tenant.as_str())
            .bind(group)
            .bind(user)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Whether every id of `users` is a SCIM user of the tenant.
    pub async fn scim_users_exist(
        &mut self,
        tenant: &TenantId,
        users: &[String],
    ) -> StoreResult<Option<String>> {
        for user in users {
            let found = sqlx::query("SELECT 1 AS one FROM scim_users WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(user)
                .fetch_optional(self.conn())
                .await?;
            if found.is_none() {
                return Ok(Some(user.clone()));
            }
        }
        Ok(None)
    }

    /// Cuts off, in `tenant`, the people whose user name at `provider` is
    /// `key` (their credentials issued until `now` hold no role there),
    /// and, when `end` says so, ends their live sessions; how many ended.
    pub async fn cut_off_username(
        &mut self,
        tenant: &TenantId,
        (provider, key): (&str, &str),
        end: bool,
        now: Timestamp,
    ) -> StoreResult<u64> {
        sqlx::query(
            "INSERT INTO operator_name_cutoffs (tenant_id, provider, username_key, not_before) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, provider, username_key) DO UPDATE SET not_before = $4",
        )
        .bind(tenant.as_str())
        .bind(provider)
        .bind(key)
        .bind(now.seconds())
        .execute(self.conn())
        .await?;
        if !end {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE operator_sessions SET ended_at = $1 WHERE provider = $2 AND username_key = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(provider)
        .bind(key)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected())
    }

    /// Cuts a person off in `tenant`, and, when `end` says so, ends their
    /// live sessions; how many ended.
    pub async fn cut_off_person(
        &mut self,
        tenant: &TenantId,
        (issuer, subject): (&str, &str),
        end: bool,
        now: Timestamp,
    ) -> StoreResult<u64> {
        sqlx::query(
            "INSERT INTO operator_cutoffs (tenant_id, issuer, subject, not_before) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, issuer, subject) DO UPDATE SET not_before = $4",
        )
        .bind(tenant.as_str())
        .bind(issuer)
        .bind(subject)
        .bind(now.seconds())
        .execute(self.conn())
        .await?;
        if !end {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE operator_sessions SET ended_at = $1 WHERE issuer = $2 AND subject = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(issuer)
        .bind(subject)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected())
    }
}

/// A stored JSON column that must parse.
pub fn json_column<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(corrupt)
}
