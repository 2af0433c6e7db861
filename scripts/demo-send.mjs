#!/usr/bin/env node
// `npm run demo:send -- "subject"`: delivers one message to the running demo's mailbox over LMTP.
import { readDemoState } from './lib/demo.mjs';
import { deliverOverLmtp, demoMessage } from './lib/demo-messages.mjs';
import { dataDir } from './lib/paths.mjs';

const args = process.argv.slice(2);
const dirFlag = args.indexOf('--data-dir');
const dir = dataDir(dirFlag >= 0 ? args[dirFlag + 1] : undefined);
const subject = args.filter((_, i) => i !== dirFlag && i !== dirFlag + 1).join(' ').trim() || undefined;

const state = readDemoState(dir);
if (!state) {
  console.error('No demo is running. Start it first (in another terminal): npm run demo');
  process.exit(1);
}
const message = subject
  ? {
      from: 'You <you@pushmail.demo>',
      subject,
      text: `${subject}\n\nDelivered by npm run demo:send at ${new Date().toLocaleTimeString()}.`,
      messageId: `<demo-send-${Date.now()}@pushmail.demo>`,
    }
  : demoMessage(Math.floor(Math.random() * 1000) + 1);
try {
  await deliverOverLmtp({ port: state.lmtpPort, to: state.email, message });
  console.log(`delivered “${message.subject}” to ${state.email}`);
} catch (err) {
  console.error(`delivery failed (${err.message}). Is the demo still running? npm run demo`);
  process.exit(1);
}
