export * from './processes';
export * from './redis-server';
export * from './dovecot-server';
export * from './smtp-sink';
export * from './app-process';
export * from './env';
export * from './stores';
export * from './oauth-server';
