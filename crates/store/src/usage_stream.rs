//! A usage query's groups handed on one at a time as the database yields them: the CSV export
//! streams them to the client rather than building the answer in memory.

use std::future::poll_fn;

use tokio::sync::mpsc::Sender;

use crate::usage_queries::{bind_usage, group_of_row, usage_sql};
use crate::{Result, Store, UsageGroup, UsageQuery};

impl Store {
    /// Sends each group of `q`, in order, to `tx` as the rows arrive (at most `q.max_rows + 1`
    /// of them). Stops early, without error, when the receiver is gone; a database error is
    /// sent on and returned.
    pub async fn send_usage_groups(
        &self,
        q: &UsageQuery<'_>,
        tx: &Sender<Result<UsageGroup>>,
    ) -> Result<()> {
        let (sql, texts) = usage_sql(q);
        let mut rows = bind_usage(sqlx::query(&sql), q, &texts).fetch(&self.pool);
        while let Some(row) = poll_fn(|cx| rows.as_mut().poll_next(cx)).await {
            let group = match row {
                Ok(row) => group_of_row(&row, q.group_by),
                Err(e) => Err(e.into()),
            };
            match group {
                Ok(None) => {}
                Ok(Some(g)) => {
                    if tx.send(Ok(g)).await.is_err() {
                        return Ok(());
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    let _ = tx.send(Err(e)).await;
                    return Err(crate::error::corrupt(message));
                }
            }
        }
        Ok(())
    }
}
