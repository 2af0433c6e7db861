export * from './parse-mail';
export * from './sanitize';
export * from './css';
export * from './html-text';
export * from './charsets';
export * from './mime-scanner';
export * from './safety';
export * from './corpus-expectation';
