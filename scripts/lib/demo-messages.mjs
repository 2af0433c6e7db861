import { createTransport } from 'nodemailer';

/**
 * A rotation of realistic messages for the demo mailbox: plain and HTML bodies, a thread, an
 * attachment, and a newsletter whose remote image the web client holds back until allowed.
 */
const samples = [
  {
    from: 'Maya Lindqvist <maya@northwind.example>',
    subject: 'Sprint review moved to Thursday',
    text: 'Hi all,\n\nThe sprint review moves to Thursday 14:00 because half the team is at the offsite on Wednesday.\nSame room, same link.\n\nMaya',
    html: '<p>Hi all,</p><p>The sprint review moves to <b>Thursday 14:00</b> because half the team is at the offsite on Wednesday.</p><p>Same room, same link.</p><p>Maya</p>',
  },
  {
    from: 'Billing <billing@cloudly.example>',
    subject: 'Your invoice for this month is ready',
    text: 'Hello,\n\nYour invoice INV-20931 over EUR 42.00 is attached. It will be charged to the card ending in 4242 in 7 days.\n\nThanks for using Cloudly.',
    html:
      '<table style="border-collapse:collapse;font-family:sans-serif"><tr><td style="padding:12px;background:#0f766e;color:#fff"><b>Cloudly</b></td></tr>' +
      '<tr><td style="padding:12px">Your invoice <b>INV-20931</b> over <b>EUR 42.00</b> is attached.<br>It will be charged to the card ending in 4242 in 7 days.</td></tr></table>',
    attachments: [{ filename: 'INV-20931.pdf', contentType: 'application/pdf', content: minimalPdf('Invoice INV-20931: EUR 42.00') }],
  },
  {
    from: 'Jonas Weber <jonas@weber-family.example>',
    subject: 'Dinner on Saturday?',
    text: "Hey!\n\nWe're finally back from Lisbon. Dinner at ours on Saturday, 7pm? Bring nothing but yourselves.\n\nJonas",
  },
  {
    from: 'The Weekly Build <newsletter@weeklybuild.example>',
    subject: 'This week: IMAP IDLE, push, and why polling is dead',
    text: 'This week in The Weekly Build: why polling for mail every five minutes is a thing of the past.',
    html:
      '<div style="max-width:560px;font-family:Georgia,serif"><img src="https://images.weeklybuild.example/header.png" alt="The Weekly Build" width="560" height="120">' +
      '<h2>Push beats polling</h2><p>IMAP IDLE lets a server tell a client about new mail the moment it arrives. ' +
      'We look at what it takes to run thousands of IDLE sessions.</p><p><a href="https://weeklybuild.example/issues/42">Read the full issue →</a></p>' +
      '<img src="https://track.weeklybuild.example/open.gif?u=8812" width="1" height="1" alt=""></div>',
  },
  {
    from: 'GitHub <notifications@github.example>',
    subject: '[pushmail] Pull request #128: Resume subscriptions after reconnect',
    text: '@sam-dev requested your review on #128.\n\nThis PR makes the client resume every subscription with `since` after a reconnect, so no message is missed.\n\n— Reply to this email directly or view it on GitHub.',
  },
  {
    from: 'Priya Raman <priya@northwind.example>',
    subject: 'Re: Sprint review moved to Thursday',
    text: 'Works for me. Can we also demo the new inbox? It shows mail within a second now.\n\nPriya\n\n> The sprint review moves to Thursday 14:00',
    inReplyToSample: 0,
  },
  {
    from: 'Airline Check-in <checkin@flyaway.example>',
    subject: 'Check-in is open for your flight to Lisbon',
    text: 'Check-in for flight FA 2231 to Lisbon is now open. Boarding starts 45 minutes before departure at gate B12.',
    html: '<p>Check-in for flight <b>FA 2231</b> to Lisbon is now open.</p><ul><li>Departure: 09:40</li><li>Boarding: 08:55, gate B12</li></ul>',
  },
];

const domain = 'pushmail.demo';

export function demoMessage(index, subjectOverride) {
  const sample = samples[index % samples.length];
  const round = Math.floor(index / samples.length);
  // Each round's thread starter and its reply share ids, so the reply points at a message the mailbox has.
  const threadId = (i) => `<thread-${i}-${round}-${process.pid}@${domain}>`;
  const messageId = index % samples.length === 0 ? threadId(0) : `<demo-${Date.now()}-${index}@${domain}>`;
  const headers = {};
  if (sample.inReplyToSample !== undefined) {
    headers['In-Reply-To'] = threadId(sample.inReplyToSample);
    headers.References = threadId(sample.inReplyToSample);
  }
  return {
    from: sample.from,
    subject: subjectOverride ?? sample.subject,
    text: sample.text,
    html: sample.html,
    attachments: sample.attachments,
    messageId,
    headers,
  };
}

/** Delivers as an MTA would: over LMTP, acknowledged once Dovecot has stored the message. */
export async function deliverOverLmtp({ port, to, message }) {
  const transport = createTransport({ host: '127.0.0.1', port, lmtp: true });
  try {
    await transport.sendMail({ envelope: { from: 'mailer@pushmail.demo', to: [to] }, to, ...message });
  } finally {
    transport.close();
  }
}

/** A valid one-page PDF with a line of text, so the attachment opens in a viewer. */
function minimalPdf(line) {
  const text = line.replace(/[()\\]/g, '');
  const stream = `BT /F1 18 Tf 72 720 Td (${text}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let pdf = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(pdf.length);
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}
