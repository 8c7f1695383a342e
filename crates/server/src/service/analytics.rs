//! Usage analytics: sums from the rollups and the request log, scoped by who asks — org admins
//! see the whole organization, others only the projects assigned to them (another project,
//! or a key of one, is "not found"; an org-wide question answers for their projects only).

use chrono::{DateTime, NaiveDate, Utc};
use tollgate_domain::{ApiKeyId, OrgId, ProjectId};
use tollgate_domain::{OrgAction, ProjectAction, Timestamp};
use tollgate_store::{
    Membership, RequestEntry, RequestQuery, StatusClass, UsageDim, UsageGroup, UsageQuery,
    UsageTotals, User, DAY_MS, HOUR_MS,
};

use tokio::sync::mpsc;

use crate::app::App;
use crate::service::{invalid_cursor, Page, ServiceError, ServiceResult};

/// The longest range one usage query may cover.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Most groups one usage query answers (a year by hour and key could be millions).
pub const MAX_GROUPS: i64 = 50_000;

fn bad(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::BadRequest {
        code,
        message: message.into(),
    }
}

/// A UTC instant from `YYYY-MM-DD` (midnight) or RFC 3339, on a whole hour.
pub fn parse_instant(field: &str, raw: &str) -> ServiceResult<Timestamp> {
    let raw = raw.trim();
    let at = if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().timestamp_millis())
    } else {
        DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|d| d.with_timezone(&Utc).timestamp_millis())
    };
    let at = at.ok_or_else(|| {
        bad(
            "invalid_range",
            format!(
                "`{field}` must be a date (2026-01-31) or an RFC 3339 time (2026-01-31T13:00:00Z)."
            ),
        )
    })?;
    if at.rem_euclid(HOUR_MS) != 0 {
        return Err(bad(
            "invalid_range",
            format!("`{field}` must be on a whole hour: usage is kept by the hour."),
        ));
    }
    Ok(at)
}

/// `[start, end)`, checked: end after start, at most [`MAX_RANGE_DAYS`]. Missing: the 30 days
/// up to the end of today (UTC).
pub fn parse_range(
    start: Option<&str>,
    end: Option<&str>,
    now: Timestamp,
) -> ServiceResult<(Timestamp, Timestamp)> {
    let end = match end {
        Some(raw) => parse_instant("end", raw)?,
        None => now - now.rem_euclid(DAY_MS) + DAY_MS,
    };
    let start = match start {
        Some(raw) => parse_instant("start", raw)?,
        None => end - 30 * DAY_MS,
    };
    if end <= start {
        return Err(bad("invalid_range", "`end` must be after `start`."));
    }
    if end - start > MAX_RANGE_DAYS * DAY_MS {
        return Err(bad(
            "invalid_range",
            format!("A range covers at most {MAX_RANGE_DAYS} days."),
        ));
    }
    Ok((start, end))
}

/// `group_by` values, each given once or comma-separated; at most one of hour and day.
pub fn parse_group_by<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> ServiceResult<Vec<UsageDim>> {
    let mut dims = Vec::new();
    for raw in values.into_iter().flat_map(|v| v.split(',')) {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let dim = UsageDim::parse(raw).ok_or_else(|| {
            bad(
                "invalid_group_by",
                "`group_by` takes hour, day, model, project, key and plan.",
            )
        })?;
        if !dims.contains(&dim) {
            dims.push(dim);
        }
    }
    if dims.contains(&UsageDim::Hour) && dims.contains(&UsageDim::Day) {
        return Err(bad(
            "invalid_group_by",
            "`group_by` takes hour or day, not both.",
        ));
    }
    Ok(dims)
}

/// What a usage question asks, as parsed from a request.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub start: Timestamp,
    pub end: Timestamp,
    pub group_by: Vec<UsageDim>,
    pub project_id: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub plan: Option<String>,
}

/// The projects a caller may see usage of: `None` for all (org admins).
#[derive(Debug, Clone)]
pub struct UsageScope {
    pub membership: Membership,
    pub project_ids: Option<Vec<ProjectId>>,
}

/// Usage sums and the grand total of the same question.
#[derive(Debug, Clone)]
pub struct UsageReport {
    pub groups: Vec<UsageGroup>,
    pub totals: UsageTotals,
}

/// A request-log question.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub project_id: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub status: Option<String>,
}

fn check_text(field: &'static str, value: Option<&str>) -> ServiceResult<()> {
    match value {
        Some(v) if v.is_empty() || v.len() > 200 || v.contains('\0') => Err(bad(
            "invalid_filter",
            format!("`{field}` must be 1 to 200 characters."),
        )),
        _ => Ok(()),
    }
}

impl App {
    /// Who may see which projects' usage, with a project or key filter checked against it.
    pub async fn usage_scope(
        &self,
        user: &User,
        org_id: &OrgId,
        project_id: Option<&str>,
        key_id: Option<&str>,
    ) -> ServiceResult<UsageScope> {
        let membership = self.org_access(user, org_id).await?;
        let mut project_ids =
            if tollgate_domain::allows(membership.role, OrgAction::ViewAllProjects) {
                None
            } else {
                Some(self.store.assigned_project_ids(org_id, &user.id).await?)
            };
        if let Some(project_id) = project_id {
            // The filter comes from a query string; the organization was checked above, as
            // `project_access` would check it before the project.
            let project_id =
                ProjectId::parse(project_id).ok_or(ServiceError::NotFound("project"))?;
            self.project_access(user, org_id, &project_id, ProjectAction::View)
                .await?;
            project_ids = Some(vec![project_id]);
        }
        if let Some(key_id) = key_id {
            // Like the project filter: a query-string filter among others, whose 400s come
            // first; read once here, after the organization.
            let not_found = || ServiceError::NotFound("API key");
            let key_id = ApiKeyId::parse(key_id).ok_or_else(not_found)?;
            let (key_org, key_project) =
                self.store.key_owner(&key_id).await?.ok_or_else(not_found)?;
            let visible = project_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&key_project));
            if key_org != *org_id || !visible {
                return Err(not_found());
            }
        }
        Ok(UsageScope {
            membership,
            project_ids,
        })
    }

    /// Checks a usage question's filters and the caller's right to them.
    async fn checked_usage_scope(
        &self,
        user: &User,
        org_id: &OrgId,
        filter: &UsageFilter,
    ) -> ServiceResult<UsageScope> {
        check_text("model", filter.model.as_deref())?;
        if let Some(plan) = filter.plan.as_deref() {
            if plan != "payg" && plan != "subscription" {
                return Err(bad("invalid_filter", "`plan` is payg or subscription."));
            }
        }
        self.usage_scope(
            user,
            org_id,
            filter.project_id.as_deref(),
            filter.key_id.as_deref(),
        )
        .await
    }

    /// The groups of a usage question handed on as the database yields them (the CSV export),
    /// after the same checks as [`App::usage_report`]; no cap on their number.
    pub async fn usage_groups_stream(
        &self,
        user: &User,
        org_id: &OrgId,
        filter: UsageFilter,
    ) -> ServiceResult<mpsc::Receiver<tollgate_store::Result<UsageGroup>>> {
        let scope = self.checked_usage_scope(user, org_id, &filter).await?;
        let (tx, rx) = mpsc::channel(256);
        let store = self.store.clone();
        let org_id = org_id.to_owned();
        tokio::spawn(async move {
            let query = UsageQuery {
                org_id: &org_id,
                start: filter.start,
                end: filter.end,
                group_by: &filter.group_by,
                project_ids: scope.project_ids.as_deref(),
                key_id: filter.key_id.as_deref(),
                model: filter.model.as_deref(),
                plan: filter.plan.as_deref(),
                max_rows: i64::MAX - 1,
            };
            if let Err(e) = store.send_usage_groups(&query, &tx).await {
                tracing::warn!(error = %e, "usage CSV export ended early");
            }
        });
        Ok(rx)
    }

    /// Usage of an organization from the rollups, grouped and filtered as asked.
    pub async fn usage_report(
        &self,
        user: &User,
        org_id: &OrgId,
        filter: &UsageFilter,
    ) -> ServiceResult<UsageReport> {
        let scope = self.checked_usage_scope(user, org_id, filter).await?;
        let query = |group_by| UsageQuery {
            org_id,
            start: filter.start,
            end: filter.end,
            group_by,
            project_ids: scope.project_ids.as_deref(),
            key_id: filter.key_id.as_deref(),
            model: filter.model.as_deref(),
            plan: filter.plan.as_deref(),
            max_rows: MAX_GROUPS,
        };
        let groups = self.store.usage_groups(&query(&filter.group_by)).await?;
        if i64::try_from(groups.len()).unwrap_or(i64::MAX) > MAX_GROUPS {
            return Err(bad(
                "too_many_groups",
                format!(
                    "More than {MAX_GROUPS} groups: narrow the range, the grouping or the filters."
                ),
            ));
        }
        let totals = if filter.group_by.is_empty() {
            groups.first().map(|g| g.totals).unwrap_or_default()
        } else {
            self.store
                .usage_groups(&query(&[]))
                .await?
                .first()
                .map(|g| g.totals)
                .unwrap_or_default()
        };
        Ok(UsageReport { groups, totals })
    }

    /// The request log, newest first.
    pub async fn request_log(
        &self,
        user: &User,
        org_id: &OrgId,
        filter: &RequestFilter,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Page<RequestEntry>> {
        check_text("model", filter.model.as_deref())?;
        check_text("after", after)?;
        let status = filter
            .status
            .as_deref()
            .map(|s| {
                StatusClass::parse(s)
                    .ok_or_else(|| bad("invalid_filter", "`status` is success, error, 4xx or 5xx."))
            })
            .transpose()?;
        let scope = self
            .usage_scope(
                user,
                org_id,
                filter.project_id.as_deref(),
                filter.key_id.as_deref(),
            )
            .await?;
        let rows = self
            .store
            .request_log(&RequestQuery {
                org_id,
                project_ids: scope.project_ids.as_deref(),
                key_id: filter.key_id.as_deref(),
                model: filter.model.as_deref(),
                status,
                after,
                limit,
            })
            .await
            .map_err(|e| match e {
                tollgate_store::StoreError::NotFound => invalid_cursor(),
                other => other.into(),
            })?;
        Ok(Page::from_rows(rows, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;

    #[test]
    fn ranges_are_utc_whole_hours_start_inclusive_end_exclusive() {
        let (s, e) = parse_range(Some("2026-01-31"), Some("2026-02-01T00:00:00Z"), NOW).unwrap();
        assert_eq!(e - s, DAY_MS);
        // An offset is converted to UTC: 01:00+01:00 is midnight UTC.
        let (s2, _) =
            parse_range(Some("2026-01-31T01:00:00+01:00"), Some("2026-02-01"), NOW).unwrap();
        assert_eq!(s2, s);
        // Month ends and leap days.
        assert!(parse_range(Some("2028-02-29"), Some("2028-03-01"), NOW).is_ok());
        assert!(parse_range(Some("2026-02-29"), Some("2026-03-01"), NOW).is_err());
        assert!(parse_range(Some("2026-04-31"), None, NOW).is_err());
        // Not a whole hour, reversed, empty, too long, garbage.
        assert!(parse_range(Some("2026-01-31T10:30:00Z"), Some("2026-02-01"), NOW).is_err());
        assert!(parse_range(Some("2026-02-01"), Some("2026-01-31"), NOW).is_err());
        assert!(parse_range(Some("2026-02-01"), Some("2026-02-01"), NOW).is_err());
        // 366 days is the most.
        assert!(parse_range(Some("2025-01-01"), Some("2026-01-03"), NOW).is_err());
        assert!(parse_range(Some("2025-01-01"), Some("2026-01-02"), NOW).is_ok());
        assert!(parse_range(Some("yesterday"), None, NOW).is_err());
        assert!(parse_range(Some(""), None, NOW).is_err());
        // The default: 30 days up to the end of today.
        let (s, e) = parse_range(None, None, NOW).unwrap();
        assert_eq!((e - s, e % DAY_MS), (30 * DAY_MS, 0));
        assert!(s <= NOW && NOW < e);
    }

    #[test]
    fn group_by_takes_known_dimensions_once() {
        assert_eq!(
            parse_group_by(["day,model", "model", "key"]).unwrap(),
            vec![UsageDim::Day, UsageDim::Model, UsageDim::Key]
        );
        assert!(parse_group_by(["week"]).is_err());
        assert!(parse_group_by(["hour", "day"]).is_err());
        assert!(parse_group_by([""]).unwrap().is_empty());
    }
}
