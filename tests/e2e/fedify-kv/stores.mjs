// Fedify KvStores over the Redis and PostgreSQL that fedtrace is pointed at.
//
//   const store = await openKvStore(url);  // the URL `fedtrace serve --store` takes
//   new FedifySpanExporter(store.kv);      // ... writes and reads through Fedify
//   await store.close();
//
// redis://[USER[:PASS]@]HOST[:PORT][/DB][?prefix=P]: @fedify/redis's
// RedisKvStore with keyPrefix P (default "fedify::", RedisKvStore's own
// default).  postgres://USER[:PASS]@HOST[:PORT]/DB[?table=T]: @fedify/postgres's
// PostgresKvStore on table T (default "fedify_kv_v2", PostgresKvStore's own).
//
// The newest @fedify/redis and @fedify/postgres on npm are 1.8.7: their
// stores implement get, set and delete, but not KvStore.list() (added in
// Fedify 1.10), which FedifySpanExporter 2.3.6 reads through
// (getActivitiesByTraceId, getRecentTraces).  So each store here is the
// published class -- every value Fedify writes or reads by key goes through
// its code, key naming and encoding -- plus a list() over the same layout:
//
//   Redis       a key is the prefix, then the key's parts joined by "::",
//               a ":" inside a part written "_:"; the value is JSON text.
//               list(prefix): the key named by the prefix itself (if any),
//               then every key matching "<that name>::*" (SCAN).
//   PostgreSQL  table (key text[] PRIMARY KEY, value jsonb, created
//               timestamptz, ttl interval); list(prefix): the rows whose key
//               starts with the prefix and has not expired, in key order.
//
// Neither has cas(), like the published classes: FedifySpanExporter then
// updates a trace summary with get + set (see server.mjs for why its writes
// are serialised).  openKvStore checks, with a probe key, that the names
// list() looks at are the names the published class writes.

import { isDeepStrictEqual } from "node:util";

export const DEFAULT_REDIS_PREFIX = "fedify::";
export const DEFAULT_PG_TABLE = "fedify_kv_v2";

export function storeKind(url) {
  const scheme = String(url).replace(/:.*$/s, "").toLowerCase();
  if (scheme === "redis") return "redis";
  if (scheme === "postgres" || scheme === "postgresql") return "postgres";
  throw new Error(`not a redis:// or postgres:// URL: ${url}`);
}

// ---------------------------------------------------------------- Redis

function redisOptions(url) {
  const u = new URL(url);
  const db = u.pathname.replace(/^\/+/, "");
  if (db !== "" && !/^\d+$/.test(db)) {
    throw new Error(`${url}: the path must be a database number`);
  }
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    db: db === "" ? 0 : Number(db),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    keyPrefix: u.searchParams.get("prefix") ?? DEFAULT_REDIS_PREFIX,
  };
}

async function openRedis(url) {
  const [{ Redis }, { RedisKvStore }] = await Promise.all([
    import("ioredis"),
    import("@fedify/redis"),
  ]);
  const { keyPrefix, ...conn } = redisOptions(url);
  const redis = new Redis({
    ...conn,
    maxRetriesPerRequest: 2,
    retryStrategy: (attempt) => (attempt > 20 ? null : 100),
  });

  const name = (key) =>
    keyPrefix + key.map((part) => part.replaceAll(":", "_:")).join("::");
  const unname = (redisKey) =>
    redisKey.slice(keyPrefix.length).split("::").map((p) =>
      p.replaceAll("_:", ":")
    );
  const globEscape = (s) => s.replace(/[*?[\]\\]/g, "\\$&");
  const decode = (buf) => JSON.parse(buf.toString("utf8"));

  class ListingRedisKvStore extends RedisKvStore {
    async *list(prefix = []) {
      const seen = new Set();
      if (prefix.length > 0) {
        const exact = await redis.getBuffer(name(prefix));
        if (exact != null) {
          seen.add(name(prefix));
          yield { key: [...prefix], value: decode(exact) };
        }
      }
      const pattern = prefix.length > 0
        ? `${globEscape(name(prefix))}::*`
        : `${globEscape(keyPrefix)}*`;
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(
          cursor,
          "MATCH",
          pattern,
          "COUNT",
          1000,
        );
        cursor = next;
        for (const k of keys) {
          if (seen.has(k)) continue; // SCAN may return a key twice
          seen.add(k);
          const value = await redis.getBuffer(k);
          if (value == null) continue; // expired or deleted meanwhile
          yield { key: unname(k), value: decode(value) };
        }
      } while (cursor !== "0");
    }
  }

  const kv = new ListingRedisKvStore(redis, { keyPrefix });
  const store = {
    kind: "redis",
    kv,
    describe: `Redis db ${conn.db} at ${conn.host}:${conn.port}, ` +
      `RedisKvStore keyPrefix ${JSON.stringify(keyPrefix)}`,
    redis,
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
  try {
    await checkLayout(store, async (key) => {
      const raw = await redis.getBuffer(name(key));
      return raw == null ? undefined : decode(raw);
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

// ---------------------------------------------------------------- PostgreSQL

function pgOptions(url) {
  const u = new URL(url);
  const host = u.searchParams.get("host") ??
    (u.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1");
  return {
    host,
    port: u.port ? Number(u.port) : 5432,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: decodeURIComponent(u.pathname.replace(/^\/+/, "")) || undefined,
    table: u.searchParams.get("table") ?? DEFAULT_PG_TABLE,
  };
}

async function pgClient(url, database) {
  const { default: postgres } = await import("postgres");
  const { table, ...conn } = pgOptions(url);
  const sql = postgres({
    ...conn,
    ...(database === undefined ? {} : { database }),
    max: 4,
    onnotice: () => {},
    connect_timeout: 30,
  });
  return { sql, table, conn };
}

async function openPostgres(url) {
  const { PostgresKvStore } = await import("@fedify/postgres");
  const { sql, table, conn } = await pgClient(url);

  class ListingPostgresKvStore extends PostgresKvStore {
    async *list(prefix = []) {
      await this.initialize();
      const rows = prefix.length === 0
        ? await sql`
            SELECT key, value FROM ${sql(table)}
            WHERE ttl IS NULL OR created + ttl > CURRENT_TIMESTAMP
            ORDER BY key`
        : await sql`
            SELECT key, value FROM ${sql(table)}
            WHERE key[1:${prefix.length}] = ${sql.array(prefix)}::text[]
              AND (ttl IS NULL OR created + ttl > CURRENT_TIMESTAMP)
            ORDER BY key`;
      for (const row of rows) yield { key: row.key, value: row.value };
    }
  }

  const kv = new ListingPostgresKvStore(sql, { tableName: table });
  const store = {
    kind: "postgres",
    kv,
    describe: `PostgreSQL database ${conn.database} at ${conn.host}:${conn.port}, ` +
      `PostgresKvStore table ${JSON.stringify(table)}`,
    sql,
    table,
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
  try {
    await kv.initialize();
    await checkLayout(store, async (key) => {
      const rows = await sql`
        SELECT value FROM ${sql(table)} WHERE key = ${sql.array(key)}::text[]`;
      return rows.length === 0 ? undefined : rows[0].value;
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

// ---------------------------------------------------------------- common

// Writes a probe through the published class and reads it back where
// list() looks; also lists it.  Guards the layout description above.
async function checkLayout(store, readRaw) {
  // Unique per process: several processes may open the store at once.
  const key = ["fedtrace-e2e", "layout:probe", String(process.pid), "x"];
  const value = { probe: true, text: "a:b::c" };
  await store.kv.set(key, value);
  try {
    const raw = await readRaw(key);
    if (!isDeepStrictEqual(raw, value)) {
      throw new Error(
        `${store.describe}: a value set through the published KvStore is not ` +
          `where list() looks (read ${JSON.stringify(raw)})`,
      );
    }
    const listed = [];
    for await (const e of store.kv.list(key.slice(0, 3))) listed.push(e);
    if (
      listed.length !== 1 || !isDeepStrictEqual(listed[0].key, key) ||
      !isDeepStrictEqual(listed[0].value, value)
    ) {
      throw new Error(
        `${store.describe}: list() of the probe's prefix returned ` +
          JSON.stringify(listed),
      );
    }
  } finally {
    await store.kv.delete(key);
  }
}

export async function openKvStore(url) {
  return storeKind(url) === "redis" ? openRedis(url) : openPostgres(url);
}

// A store URL for an empty namespace of the same server: Redis database
// number `n` (flushed), or PostgreSQL database "fedtrace_e2e_<n>"
// (dropped and created again).  Query parameters are kept.
export async function freshStoreUrl(url, n) {
  const u = new URL(url);
  if (storeKind(url) === "redis") {
    const { Redis } = await import("ioredis");
    u.pathname = `/${Number(n)}`;
    const { keyPrefix: _, ...conn } = redisOptions(u.href);
    const redis = new Redis({ ...conn, maxRetriesPerRequest: 2 });
    try {
      await redis.flushdb();
    } finally {
      await redis.quit().catch(() => redis.disconnect());
    }
    return u.href;
  }
  const database = `fedtrace_e2e_${Number(n)}`;
  const { sql } = await pgClient(url);
  try {
    await sql`DROP DATABASE IF EXISTS ${sql(database)}`;
    await sql`CREATE DATABASE ${sql(database)}`;
  } finally {
    await sql.end({ timeout: 5 });
  }
  u.pathname = `/${database}`;
  return u.href;
}
