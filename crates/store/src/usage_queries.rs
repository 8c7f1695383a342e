//! Reading usage: sums over the rollups (never the raw records) grouped by time, model,
//! project, key or plan, and the request log (raw records, newest first, keyset paged).

use std::fmt::Write as _;

use sqlx::Row;
use tollgate_domain::{ApiKeyId, Money, OrgId, ProjectId, Timestamp, UserId};

use crate::usage_rollups::{Grain, UsageTotals, DAY_MS, ERROR_SQL};
use crate::{Result, Store, StoreError};

/// A dimension usage can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageDim {
    Hour,
    Day,
    Model,
    Project,
    Key,
    Plan,
}

impl UsageDim {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hour" => Self::Hour,
            "day" => Self::Day,
            "model" => Self::Model,
            "project" => Self::Project,
            "key" => Self::Key,
            "plan" => Self::Plan,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Model => "model",
            Self::Project => "project",
            Self::Key => "key",
            Self::Plan => "plan",
        }
    }
}

/// Which usage to sum. `project_ids`: `None` for every project of the organization, else only
/// those (a member's assigned projects; empty means none).
#[derive(Debug, Clone)]
pub struct UsageQuery<'a> {
    pub org_id: &'a OrgId,
    /// Inclusive, a whole UTC hour.
    pub start: Timestamp,
    /// Exclusive, a whole UTC hour.
    pub end: Timestamp,
    pub group_by: &'a [UsageDim],
    pub project_ids: Option<&'a [ProjectId]>,
    pub key_id: Option<&'a str>,
    pub model: Option<&'a str>,
    pub plan: Option<&'a str>,
    /// Most groups returned; one more is fetched to tell "too many".
    pub max_rows: i64,
}

/// One group of a usage query: the values of the grouped dimensions (in `group_by` order; the
/// start of the hour or day for time) and its sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageGroup {
    pub time: Option<Timestamp>,
    pub model: Option<String>,
    pub project_id: Option<ProjectId>,
    pub key_id: Option<String>,
    pub plan: Option<String>,
    pub totals: UsageTotals,
}

impl UsageQuery<'_> {
    /// The coarsest grain that can answer: keys or hours (or a range not on day boundaries)
    /// need the hourly rows, projects the per-project days, anything else the org's days.
    pub fn grain(&self) -> Grain {
        let by = |d: UsageDim| self.group_by.contains(&d);
        let whole_days = self.start.rem_euclid(DAY_MS) == 0 && self.end.rem_euclid(DAY_MS) == 0;
        if by(UsageDim::Key) || self.key_id.is_some() || by(UsageDim::Hour) || !whole_days {
            Grain::Hour
        } else if by(UsageDim::Project) || self.project_ids.is_some() {
            Grain::DayProject
        } else {
            Grain::Day
        }
    }
}

/// How a request ended, for the request log's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// `ok`, `success` or 2xx.
    Success,
    /// Anything else.
    Error,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
}

impl StatusClass {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "success" => Self::Success,
            "error" => Self::Error,
            "4xx" => Self::ClientError,
            "5xx" => Self::ServerError,
            _ => return None,
        })
    }

    fn sql(self) -> String {
        match self {
            Self::Success => format!("({ERROR_SQL}) = 0"),
            Self::Error => format!("({ERROR_SQL}) = 1"),
            Self::ClientError => "status LIKE '4__'".to_owned(),
            Self::ServerError => "status LIKE '5__'".to_owned(),
        }
    }
}

/// Which requests to list, newest first. `after`: the id of the last request of the previous
/// page.
#[derive(Debug, Clone)]
pub struct RequestQuery<'a> {
    pub org_id: &'a OrgId,
    pub project_ids: Option<&'a [ProjectId]>,
    pub key_id: Option<&'a str>,
    pub model: Option<&'a str>,
    pub status: Option<StatusClass>,
    pub after: Option<&'a str>,
    pub limit: i64,
}

/// One request of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEntry {
    pub id: String,
    pub occurred_at: Timestamp,
    pub project_id: ProjectId,
    pub key_id: String,
    pub model: String,
    pub status: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    /// Rounded half up to the micro-dollar (`usage_records.cost`).
    pub cost: Money,
    pub plan: String,
    pub latency_ms: Option<i64>,
    /// Time to the first token of a streamed answer.
    pub ttft_ms: Option<i64>,
}

/// A key's spend since a time and its last use, from the rollups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    pub key_id: String,
    /// Σ exact cost, pico-USD.
    pub cost_since_picos: i128,
    pub last_at: Timestamp,
}

impl KeyUsage {
    /// The spend rounded half up to the micro-dollar, for showing.
    pub fn cost_since(&self) -> tollgate_domain::Money {
        UsageTotals {
            cost_picos: self.cost_since_picos,
            ..UsageTotals::default()
        }
        .cost()
    }
}

/// Appends `AND column IN (…)` for a project restriction, binding from `$next`.
pub(crate) fn push_in<T>(sql: &mut String, column: &str, values: &[T], next: &mut usize) {
    if values.is_empty() {
        sql.push_str(" AND 1 = 0");
        return;
    }
    let _ = write!(sql, " AND {column} IN (");
    for i in 0..values.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        let _ = write!(sql, "${}", *next);
        *next += 1;
    }
    sql.push(')');
}

/// The SQL of a usage query and its text filters' values, in bind order after `$1`–`$4`
/// (organization, grain, start, end); the project ids follow them.
pub(crate) fn usage_sql<'a>(q: &UsageQuery<'a>) -> (String, Vec<&'a str>) {
    let grain = q.grain();
    let mut select = Vec::new();
    for dim in q.group_by {
        select.push(match dim {
            UsageDim::Hour => "bucket".to_owned(),
            UsageDim::Day if grain == Grain::Hour => format!("bucket - (bucket % {DAY_MS})"),
            UsageDim::Day => "bucket".to_owned(),
            UsageDim::Model => "model".to_owned(),
            UsageDim::Project => "project_id".to_owned(),
            UsageDim::Key => "key_id".to_owned(),
            UsageDim::Plan => "plan".to_owned(),
        });
    }
    let mut sql = String::from("SELECT ");
    for (i, expr) in select.iter().enumerate() {
        let _ = write!(sql, "{expr} AS g{i}, ");
    }
    sql.push_str(
        "CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(errors) AS BIGINT) AS errors, \
         CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
         CAST(SUM(cached_input_tokens) AS BIGINT) AS cached_input_tokens, \
         CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, CAST(SUM(cost) AS BIGINT) AS cost, \
         CAST(SUM(cost_pico_rem) AS BIGINT) AS cost_pico_rem \
         FROM usage_rollups WHERE org_id = $1 AND grain = $2 AND bucket >= $3 AND bucket < $4",
    );
    let mut next = 5;
    let mut texts: Vec<&str> = Vec::new();
    for (column, value) in [("key_id", q.key_id), ("model", q.model), ("plan", q.plan)] {
        if let Some(v) = value {
            let _ = write!(sql, " AND {column} = ${next}");
            next += 1;
            texts.push(v);
        }
    }
    if let Some(ids) = q.project_ids {
        push_in(&mut sql, "project_id", ids, &mut next);
    }
    if !select.is_empty() {
        let groups: Vec<String> = (0..select.len()).map(|i| format!("g{i}")).collect();
        let _ = write!(
            sql,
            " GROUP BY {list} ORDER BY {list}",
            list = groups.join(", ")
        );
    }
    let _ = write!(sql, " LIMIT {}", q.max_rows.saturating_add(1));
    (sql, texts)
}

/// Binds a usage query's values to its SQL (from [`usage_sql`]).
pub(crate) fn bind_usage<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    q: &'q UsageQuery<'q>,
    texts: &'q [&'q str],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = query
        .bind(q.org_id.as_str())
        .bind(q.grain().as_str())
        .bind(q.start)
        .bind(q.end);
    for v in texts {
        query = query.bind(*v);
    }
    for id in q.project_ids.unwrap_or_default() {
        query = query.bind(id.as_str());
    }
    query
}

/// One group of a usage query's answer; `None` for the row of NULLs an ungrouped sum over
/// nothing gives.
pub(crate) fn group_of_row(
    row: &sqlx::any::AnyRow,
    group_by: &[UsageDim],
) -> Result<Option<UsageGroup>> {
    let requests: Option<i64> = row.try_get("requests")?;
    let Some(requests) = requests else {
        return Ok(None);
    };
    let mut g = UsageGroup {
        time: None,
        model: None,
        project_id: None,
        key_id: None,
        plan: None,
        totals: UsageTotals {
            requests,
            errors: row.try_get("errors")?,
            input_tokens: row.try_get("input_tokens")?,
            cached_input_tokens: row.try_get("cached_input_tokens")?,
            output_tokens: row.try_get("output_tokens")?,
            cost_picos: UsageTotals::picos_of(row.try_get("cost")?, row.try_get("cost_pico_rem")?),
        },
    };
    for (i, dim) in group_by.iter().enumerate() {
        let column = format!("g{i}");
        match dim {
            UsageDim::Hour | UsageDim::Day => g.time = Some(row.try_get(column.as_str())?),
            UsageDim::Model => g.model = Some(row.try_get(column.as_str())?),
            UsageDim::Project => {
                g.project_id = Some(ProjectId::from_stored(row.try_get(column.as_str())?))
            }
            UsageDim::Key => g.key_id = Some(row.try_get(column.as_str())?),
            UsageDim::Plan => g.plan = Some(row.try_get(column.as_str())?),
        }
    }
    Ok(Some(g))
}

impl Store {
    /// Usage sums from the rollups; see [`UsageQuery`]. Groups come ordered by the grouped
    /// dimensions; up to `max_rows + 1` of them (the extra one: too many to show).
    pub async fn usage_groups(&self, q: &UsageQuery<'_>) -> Result<Vec<UsageGroup>> {
        let (sql, texts) = usage_sql(q);
        let rows = bind_usage(sqlx::query(&sql), q, &texts)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(g) = group_of_row(row, q.group_by)? {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// The projects a member is assigned to in an organization (archived ones too: their usage
    /// stays theirs to see).
    pub async fn assigned_project_ids(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
    ) -> Result<Vec<ProjectId>> {
        sqlx::query("SELECT project_id FROM project_members WHERE org_id = $1 AND user_id = $2")
            .bind(org_id.as_str())
            .bind(user_id.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(ProjectId::from_stored(r.try_get("project_id")?)))
            .collect()
    }

    /// Each key's cost since `since` and when it was last used, from the hourly rollups (for
    /// the API Keys table; a key without usage is absent). Keys of other organizations are
    /// ignored.
    pub async fn key_usage_since(
        &self,
        org_id: &OrgId,
        key_ids: &[ApiKeyId],
        since: Timestamp,
    ) -> Result<Vec<KeyUsage>> {
        if key_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT key_id, CAST(SUM(CASE WHEN bucket >= $2 THEN cost ELSE 0 END) AS BIGINT) AS cost, \
             CAST(SUM(CASE WHEN bucket >= $2 THEN cost_pico_rem ELSE 0 END) AS BIGINT) AS cost_pico_rem, \
             MAX(last_at) AS last_at FROM usage_rollups WHERE org_id = $1 AND grain = 'hour'",
        );
        let mut next = 3;
        push_in(&mut sql, "key_id", key_ids, &mut next);
        sql.push_str(" GROUP BY key_id");
        let mut query = sqlx::query(&sql).bind(org_id.as_str()).bind(since);
        for id in key_ids {
            query = query.bind(id.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(KeyUsage {
                    key_id: r.try_get("key_id")?,
                    cost_since_picos: UsageTotals::picos_of(
                        r.try_get("cost")?,
                        r.try_get("cost_pico_rem")?,
                    ),
                    last_at: r.try_get("last_at")?,
                })
            })
            .collect()
    }

    /// The request log; see [`RequestQuery`]. `after` naming no request of the organization:
    /// `StoreError::NotFound`. Returns up to `limit + 1` entries (the extra one: "more").
    pub async fn request_log(&self, q: &RequestQuery<'_>) -> Result<Vec<RequestEntry>> {
        let (after_time, after_id) = match q.after {
            Some(id) => {
                let row = sqlx::query(
                    "SELECT occurred_at FROM usage_records WHERE org_id = $1 AND id = $2",
                )
                .bind(q.org_id.as_str())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound)?;
                (row.try_get::<i64, _>("occurred_at")?, id.to_owned())
            }
            None => (i64::MAX, String::new()),
        };
        let mut sql = String::from(
            "SELECT id, occurred_at, project_id, key_id, model, status, input_tokens, \
             cached_input_tokens, output_tokens, cost, plan, latency_ms, ttft_ms FROM usage_records \
             WHERE org_id = $1 AND (occurred_at < $2 OR (occurred_at = $2 AND $3 <> '' AND id < $3))",
        );
        let mut next = 4;
        let mut texts: Vec<&str> = Vec::new();
        for (column, value) in [("key_id", q.key_id), ("model", q.model)] {
            if let Some(v) = value {
                let _ = write!(sql, " AND {column} = ${next}");
                next += 1;
                texts.push(v);
            }
        }
        if let Some(class) = q.status {
            let _ = write!(sql, " AND {}", class.sql());
        }
        if let Some(ids) = q.project_ids {
            push_in(&mut sql, "project_id", ids, &mut next);
        }
        let _ = write!(
            sql,
            " ORDER BY occurred_at DESC, id DESC LIMIT {}",
            q.limit.saturating_add(1)
        );
        let mut query = sqlx::query(&sql)
            .bind(q.org_id.as_str())
            .bind(after_time)
            .bind(after_id);
        for v in texts {
            query = query.bind(v);
        }
        for id in q.project_ids.unwrap_or_default() {
            query = query.bind(id.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(RequestEntry {
                    id: r.try_get("id")?,
                    occurred_at: r.try_get("occurred_at")?,
                    project_id: ProjectId::from_stored(r.try_get("project_id")?),
                    key_id: r.try_get("key_id")?,
                    model: r.try_get("model")?,
                    status: r.try_get("status")?,
                    input_tokens: r.try_get("input_tokens")?,
                    cached_input_tokens: r.try_get("cached_input_tokens")?,
                    output_tokens: r.try_get("output_tokens")?,
                    cost: Money::from_micros(r.try_get("cost")?),
                    plan: r.try_get("plan")?,
                    latency_ms: r.try_get("latency_ms")?,
                    ttft_ms: r.try_get("ttft_ms")?,
                })
            })
            .collect()
    }
}
