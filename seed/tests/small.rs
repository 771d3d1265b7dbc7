//! Seeds the `small` preset into fresh databases and checks every invariant, the
//! distributions, the schema left behind, the refusal guard and determinism.

use clap::Parser;
use parley_seed::{Options, verify};
use parley_testkit::TestDb;
use sqlx::{Connection, PgConnection};

fn options(url: &str, seed: &str, extra: &[&str]) -> Options {
    let mut args = vec![
        "parley-seed",
        "--database-url",
        url,
        "--preset",
        "small",
        "--seed",
        seed,
        "--until",
        "2026-01-01",
        "--progress-secs",
        "0",
    ];
    args.extend_from_slice(extra);
    Options::parse_from(args)
}

/// Every constraint and index definition of the seeded schemas.
async fn schema(url: &str) -> anyhow::Result<Vec<String>> {
    let mut c = PgConnection::connect(url).await?;
    Ok(sqlx::query_scalar(
        "SELECT n.nspname || '.' || t.relname || ' ' || x.conname || ' ' || pg_get_constraintdef(x.oid)
         FROM pg_constraint x JOIN pg_class t ON t.oid = x.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname IN ('directory', 'persist', 'receipts')
         UNION ALL
         SELECT pg_get_indexdef(indexrelid) FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname IN ('directory', 'persist', 'receipts')
         ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await?)
}

#[tokio::test]
async fn small_preset_keeps_every_invariant_and_is_deterministic() -> anyhow::Result<()> {
    let a = TestDb::create().await?;
    let b = TestDb::create().await?;
    let pristine = TestDb::create().await?;
    parley_seed::db::migrate(&pristine.url).await?;

    let report = parley_seed::seed(&options(&a.url, "7", &[])).await?;
    assert_eq!(report.messages, 20_000);
    assert_eq!(report.users, 200);
    assert_eq!(report.conversations, 500);

    let v = verify::verify(&a.url).await?;
    assert!(v.violations().is_empty(), "{v}");
    let s = &v.stats;
    assert_eq!(s.messages, 20_000);
    assert!((0.64..0.78).contains(&s.daytime_share), "{v}");
    assert!(s.weekday_share > 5.0 / 7.0 + 0.03, "{v}");
    assert!((0.65..0.92).contains(&s.top_fifth_share), "{v}");
    assert!(s.under_100_share > 0.8 && s.length_max > 1_000, "{v}");
    assert!((0.04..0.10).contains(&s.media_share), "{v}");
    assert!(s.unread > 0, "{v}");

    // The load dropped and rebuilt keys; the schema is the migrations' schema again.
    assert_eq!(schema(&a.url).await?, schema(&pristine.url).await?);

    // Seeding over data is refused, and changes nothing.
    let before = verify::checksum(&a.url).await?;
    let refused = parley_seed::seed(&options(&a.url, "7", &[])).await;
    let err = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("--force"), "{err}");
    assert_eq!(verify::checksum(&a.url).await?, before);

    // The same seed gives the same data, in another database and with other parallelism.
    parley_seed::seed(&options(
        &b.url,
        "7",
        &["--generators", "2", "--message-streams", "3"],
    ))
    .await?;
    assert_eq!(verify::checksum(&b.url).await?, before);

    // --force starts over; another seed gives other data.
    parley_seed::seed(&options(&b.url, "8", &["--force"])).await?;
    assert!(verify::verify(&b.url).await?.violations().is_empty());
    assert_ne!(verify::checksum(&b.url).await?, before);
    Ok(())
}
