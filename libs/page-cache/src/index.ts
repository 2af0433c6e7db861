export * from './first-page-cache';
export * from './page-cache.module';
