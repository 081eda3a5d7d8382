//! Reports: each of the four answers typed JSON and CSV (RFC 4180) for the
//! run's tenant, and the activity report's total is what the audit log
//! lists for the same range.

use crate::{Case, CaseFuture, Context, Group, check, failed, raw};

pub(super) fn cases() -> Vec<Case> {
    vec![Case {
        id: "reports.json_and_csv_agree",
        group: Group::Reports,
        title: "posture, access, attestation and activity answer JSON and CSV; activity's decisions are the audit log's",
        disruptive: false,
        operations: &[
            "posture_report_get",
            "access_report_get",
            "attestation_report_get",
            "activity_report_get",
        ],
        run: json_and_csv_agree,
    }]
}

/// The CSV of `path`: its header and records, parsed.
async fn csv(ctx: &Context, path: &str) -> Result<(Vec<String>, Vec<Vec<String>>), crate::Failure> {
    let (gw, url) = ctx.client(&ctx.admin_key);
    let repro =
        format!("curl -sS '{url}{path}' -H 'Authorization: Bearer {}' -H 'Accept: text/csv'", ctx.admin_key);
    let response = gw
        .http()
        .get(format!("{url}{path}"))
        .bearer_auth(&ctx.admin_key)
        .header("Accept", "text/csv")
        .send()
        .await
        .map_err(|e| failed("asking for CSV", e, Some(repro.clone())))?;
    let status = response.status().as_u16();
    let media =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let text = response.text().await.map_err(|e| failed("reading the CSV", e, Some(repro.clone())))?;
    check(
        status == 200 && media.starts_with("text/csv"),
        || format!("CSV of {path}: {status} {media}"),
        Some(repro.clone()),
    )?;
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| failed("reading the CSV header", e, Some(repro.clone())))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| failed("reading a CSV record (RFC 4180)", e, Some(repro.clone())))?;
        records.push(record.iter().map(str::to_string).collect());
    }
    Ok((header, records))
}

fn json_and_csv_agree(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let to = chrono::Utc::now() + chrono::Duration::minutes(1);
        let from = to - chrono::Duration::days(2);
        let range = format!(
            "from={}&to={}",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        for (report, first_column) in [
            ("posture", "metric"),
            ("access", "agent_id"),
            ("attestation", "kind"),
            ("activity", "bucket_start"),
        ] {
            let path = format!("/api/reports/{report}?{range}");
            let (status, json, repro) = raw(ctx, "GET", &path, &ctx.admin_key, None::<&()>).await?;
            check(
                status == 200 && json["tenant"] == ctx.tenant.as_str() && json["generated_at"].is_string(),
                || format!("the {report} report as JSON: {status} {json}"),
                Some(repro),
            )?;
            let (header, records) = csv(ctx, &path).await?;
            check(
                header.first().map(String::as_str) == Some(first_column),
                || format!("the {report} report's CSV header: {header:?}"),
                None,
            )?;
            if report == "activity" {
                let total = json["decisions"].as_u64().unwrap_or(u64::MAX);
                let summed: u64 = records.iter().filter_map(|r| r.last()?.parse::<u64>().ok()).sum();
                let audit = format!("/v1/admin/audit?kind=decision&{range}&limit=500");
                let mut listed = 0u64;
                let mut cursor: Option<String> = None;
                loop {
                    let page_path = match &cursor {
                        Some(c) => format!("{audit}&cursor={c}"),
                        None => audit.clone(),
                    };
                    let (status, page, repro) =
                        raw(ctx, "GET", &page_path, &ctx.admin_key, None::<&()>).await?;
                    check(status == 200, || format!("listing decisions: {status} {page}"), Some(repro))?;
                    listed += page["items"].as_array().map_or(0, |items| items.len() as u64);
                    match page["next_cursor"].as_str() {
                        Some(next) => cursor = Some(next.to_string()),
                        None => break,
                    }
                    if listed > 100_000 {
                        break;
                    }
                }
                check(
                    total == summed && (listed == total || listed > 100_000),
                    || {
                        format!(
                            "activity: {total} decisions in JSON, {summed} in CSV, {listed} in the audit log"
                        )
                    },
                    None,
                )?;
            }
        }
        let (status, refused, repro) =
            raw(ctx, "GET", "/api/reports/posture", &ctx.agent_key, None::<&()>).await?;
        check(
            status == 403 && refused["error_code"] == "forbidden",
            || format!("a report with an agent key: {status} {refused}"),
            Some(repro),
        )?;
        Ok(())
    })
}
