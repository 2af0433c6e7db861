import { createHash } from 'node:crypto';
import type { RedisClient } from './connection';

export interface LuaScript {
  lua: string;
  sha: string;
}

export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** EVALSHA, loading the script on NOSCRIPT (a restarted Redis has forgotten it). */
export async function runLua<T>(redis: RedisClient, script: LuaScript, keys: string[], args: Array<string | number>): Promise<T> {
  try {
    return (await redis.evalsha(script.sha, keys.length, ...keys, ...args)) as T;
  } catch (err) {
    if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
    return (await redis.eval(script.lua, keys.length, ...keys, ...args)) as T;
  }
}
