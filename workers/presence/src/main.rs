fn main() -> anyhow::Result<()> {
    parley_kit::main::<parley_presence::Presence>()
}
