/** The Lua scripts of the Redis state store: each runs atomically on the server. */

/** INCR, and start the window on the first hit only (a fixed window); works on any Redis version. */
export const INCREMENT_IN_WINDOW = `local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n`;

/** DEL only if the key still holds the expected value (releasing a lock its owner still holds). */
export const COMPARE_AND_DELETE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
