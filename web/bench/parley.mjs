/**
 * A private, seeded Parley for the scroll benchmark: a fresh PostgreSQL
 * database loaded by `parley-seed` with one conversation of `messages`
 * messages, then scripts/run.sh on its own ports and state directory (so it
 * never meets a Parley that is already running); `stop()` stops it and drops
 * the database.
 *
 * It runs binaries already built (`cargo build --release --workspace --bins`,
 * or PARLEY_PROFILE=debug with a debug build) from CARGO_TARGET_DIR (default
 * ~/.cache/parley/target, as run.sh) and serves web/dist as it is.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** parley-seed gives every user this password (seed/src/lib.rs, SEED_PASSWORD). */
const SEED_PASSWORD = 'parley-seed-password';
// Members of the one conversation (a direct chat or a group, as the seed's plan draws it).
const SEED_USERS = 20;

function psql(pgUrl, sql) {
  const r = spawnSync('psql', [pgUrl, '-v', 'ON_ERROR_STOP=1', '-tAc', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql failed (${sql}): ${r.stderr || r.error}`);
  return r.stdout.trim();
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.error})`);
}

async function waitReady(url, ms, exited) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (exited()) throw new Error('scripts/run.sh exited before Parley was ready (logs in its state directory)');
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Parley at ${url} was not ready within ${ms / 1000} s`);
}

/**
 * Seeds and starts Parley. Returns { base, user, password, conversationId, describe, stop }.
 * Options: messages, port, natsPort, opsBase, database (name, dropped and created anew),
 * pgUrl (server URL without a database), profile.
 */
export async function startSeededParley(opts) {
  const { messages, port, natsPort, opsBase, database, pgUrl, profile } = opts;
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`database name ${database} must be a plain identifier`);
  const target = process.env.CARGO_TARGET_DIR ?? join(os.homedir(), '.cache', 'parley', 'target');
  const bin = join(target, profile);
  for (const b of ['parley-seed', 'parley-edge', 'parley-persist']) {
    if (!existsSync(join(bin, b))) {
      throw new Error(`${join(bin, b)} is missing: build first (cargo build ${profile === 'release' ? '--release ' : ''}--workspace --bins)`);
    }
  }
  if (!existsSync(join(REPO, 'web', 'dist', 'index.html'))) throw new Error('web/dist is missing: run `npm run build` first');

  const admin = `${pgUrl}/postgres`;
  const dbUrl = `${pgUrl}/${database}`;
  psql(admin, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  psql(admin, `CREATE DATABASE ${database}`);
  const started = Date.now();
  console.log(`[parley] seeding ${messages} messages into one conversation (database ${database})…`);
  run(
    join(bin, 'parley-seed'),
    ['--database-url', dbUrl, '--users', String(SEED_USERS), '--conversations', '1', '--messages', String(messages), '--progress-secs', '0'],
    'parley-seed',
  );
  const seedMs = Date.now() - started;
  const [conversationId, user] = psql(
    dbUrl,
    'SELECT m.conversation_id, u.username FROM directory.members m JOIN directory.users u ON u.id = m.user_id ORDER BY u.username LIMIT 1',
  ).split('|');
  if (!conversationId || !user) throw new Error('the seeded database has no conversation member');
  const lastSeq = Number(psql(dbUrl, `SELECT last_seq FROM persist.conversations WHERE conversation_id = '${conversationId}'`));

  const state = mkdtempSync(join(os.tmpdir(), 'parley-bench-'));
  const listen = `127.0.0.1:${port}`;
  const child = spawn('bash', [join(REPO, 'scripts', 'run.sh')], {
    cwd: REPO,
    detached: true, // its own process group: stop() signals run.sh and everything it started
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      PARLEY_PROFILE: profile,
      PARLEY_SKIP_BUILD: '1',
      PARLEY_SKIP_WEB_BUILD: '1',
      PARLEY_STATE: state,
      PARLEY_DB_NAME: database,
      PARLEY_LISTEN: listen,
      PARLEY_NATS_PORT: String(natsPort),
      PARLEY_OPS_BASE: String(opsBase),
      PARLEY_REDIS_PREFIX: `parley:${database}:`,
    },
  });
  let exited = false;
  const done = new Promise((resolve) => child.on('exit', () => resolve((exited = true))));
  const stop = async () => {
    if (!exited) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))]);
      if (!exited) process.kill(-child.pid, 'SIGKILL');
    }
    rmSync(state, { recursive: true, force: true });
    try {
      psql(admin, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    } catch (err) {
      console.log(`[parley] could not drop ${database}: ${err.message}`);
    }
  };
  const base = `http://${listen}`;
  try {
    await waitReady(`${base}/readyz`, 60_000, () => exited);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    base,
    user,
    password: SEED_PASSWORD,
    conversationId,
    describe: `Parley (${profile} build, scripts/run.sh) on ${listen}, database ${database} seeded by parley-seed: one conversation of ${messages} messages (last seq ${lastSeq}), seeded in ${(seedMs / 1000).toFixed(1)} s`,
    stop,
  };
}
