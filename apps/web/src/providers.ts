/** Server settings of common providers, to prefill the add-account form. */
export interface ProviderPreset {
  id: string;
  label: string;
  imap: { host: string; port: number; secure: boolean };
  smtp: { host: string; port: number; secure: boolean };
  /** What a user of this provider usually needs to know before signing in. */
  hint?: string;
}

export const providers: ProviderPreset[] = [
  {
    id: 'gmail',
    label: 'Gmail',
    imap: { host: 'imap.gmail.com', port: 993, secure: true },
    smtp: { host: 'smtp.gmail.com', port: 465, secure: true },
    hint: 'Sign in with Google if this server offers it; otherwise use an app password (Google Account → Security → App passwords).',
  },
  {
    id: 'outlook',
    label: 'Outlook / Microsoft 365',
    imap: { host: 'outlook.office365.com', port: 993, secure: true },
    smtp: { host: 'smtp.office365.com', port: 587, secure: false },
    // Microsoft turned off password (basic) authentication for IMAP and POP3 in Exchange
    // Online: a password typed here is refused at login, however correct.
    hint: 'Microsoft 365 refuses passwords for IMAP: sign in with Microsoft if this server offers it. Port 587 upgrades to TLS with STARTTLS.',
  },
  {
    id: 'yahoo',
    label: 'Yahoo Mail',
    imap: { host: 'imap.mail.yahoo.com', port: 993, secure: true },
    smtp: { host: 'smtp.mail.yahoo.com', port: 465, secure: true },
    hint: 'Use an app password.',
  },
  {
    id: 'icloud',
    label: 'iCloud Mail',
    imap: { host: 'imap.mail.me.com', port: 993, secure: true },
    smtp: { host: 'smtp.mail.me.com', port: 587, secure: false },
    hint: 'Use an app-specific password.',
  },
  {
    id: 'fastmail',
    label: 'Fastmail',
    imap: { host: 'imap.fastmail.com', port: 993, secure: true },
    smtp: { host: 'smtp.fastmail.com', port: 465, secure: true },
    hint: 'Use an app password.',
  },
  {
    id: 'custom',
    label: 'Other (IMAP/SMTP)',
    imap: { host: '', port: 993, secure: true },
    smtp: { host: '', port: 465, secure: true },
  },
];

/** Guesses the provider from the address's domain, so typing the address fills in the servers. */
export function providerForEmail(email: string): ProviderPreset | undefined {
  const domain = email.split('@')[1]?.toLowerCase() ?? '';
  const byDomain: Record<string, string> = {
    'gmail.com': 'gmail',
    'googlemail.com': 'gmail',
    'outlook.com': 'outlook',
    'hotmail.com': 'outlook',
    'live.com': 'outlook',
    'yahoo.com': 'yahoo',
    'icloud.com': 'icloud',
    'me.com': 'icloud',
    'fastmail.com': 'fastmail',
  };
  return providers.find((p) => p.id === byDomain[domain]);
}
