-- pushmail-notify.lua: tells pushmail about new mail the moment Dovecot saves it (LMTP delivery,
-- or an APPEND/COPY by an IMAP client), instead of waiting for IDLE (which Dovecot holds back by
-- about 500 ms). Driver of Dovecot's push_notification plugin; see dovecot-pushmail.conf beside it
-- and the "Push notifications from Dovecot" section of docs/operations.md.
--
-- Settings, from the plugin {} section (per user if the userdb returns them):
--   pushmail_notify_url     = https://pushmail-watcher.internal/api/notify/dovecot
--   pushmail_notify_secret  = the source's secret in pushmail's NOTIFY_SOURCES (>= 24 characters)
--
-- The request is made inside the delivery: Dovecot waits for it before it answers the LMTP client.
-- So it must never slow delivery down: one attempt, a short timeout, no retry. A notification that
-- is lost costs nothing but speed: pushmail's IDLE session still finds the message.

-- Setting names are Dovecot's own (lib-http), checked against Dovecot 2.3.19's dlua-dovecot-http:
-- an unknown name is ignored there, and `request_timeout` alone left the 60 s default in place.
local http_client = dovecot.http.client({
  -- Milliseconds for the request, connecting included: a slow or unreachable pushmail costs each
  -- delivery at most this much.
  request_timeout_msecs = 200,
  max_attempts = 1,
  max_connect_attempts = 1,
  no_auto_retry = true,
  -- Keep-alive connections to the watchers, so a notification is one round trip, not a handshake.
  max_idle_time_msecs = 30000,
})

function script_init()
  return 0
end

local function json_string(s)
  s = tostring(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == '\\' then return '\\\\' end
    return string.format('\\u%04x', c:byte())
  end)
  return '"' .. s .. '"'
end

function dovecot_lua_notify_begin_txn(user)
  return {
    user = user.username,
    url = user:plugin_getenv("pushmail_notify_url"),
    secret = user:plugin_getenv("pushmail_notify_secret"),
    messages = {},
  }
end

function dovecot_lua_notify_event_message_new(ctx, event)
  table.insert(ctx.messages, string.format(
    '{"event":"MessageNew","user":%s,"mailbox":%s,"uidValidity":%d,"uid":%d}',
    json_string(ctx.user), json_string(event.mailbox), event.uid_validity, event.uid))
end

function dovecot_lua_notify_end_txn(ctx)
  if #ctx.messages == 0 or ctx.url == nil or ctx.url == "" or ctx.secret == nil or ctx.secret == "" then
    return
  end
  -- One request per transaction: a message delivered to several mailboxes, or a COPY of many, is one array.
  local request = http_client:request({ url = ctx.url, method = "POST" })
  request:add_header("content-type", "application/json")
  request:add_header("authorization", "Bearer " .. ctx.secret)
  request:set_payload("[" .. table.concat(ctx.messages, ",") .. "]")
  local response = request:submit()
  local status = response:status()
  if status ~= 202 then
    -- Never the secret or the body in the log; the status tells timeout (9000s) from a refusal.
    dovecot.i_warning("pushmail-notify: " .. tostring(status) .. " " .. tostring(response:reason()) .. " for " .. ctx.user)
  end
end
