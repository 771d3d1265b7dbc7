//! `parley-seed`: see the library (`parley_seed`) for what it generates.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let opts = parley_seed::Options::parse();
    let mut report = parley_seed::seed(&opts).await?;
    if opts.measure_copy {
        parley_seed::measure_copy(&opts, &mut report).await?;
    }
    print!("{report}");
    if opts.verify {
        let v = parley_seed::verify::verify(&opts.database_url).await?;
        print!("{v}");
        anyhow::ensure!(v.violations().is_empty(), "invariants violated");
    }
    Ok(())
}
