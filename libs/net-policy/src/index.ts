export * from './ip-address';
export * from './mail-host-policy';
export * from './connection-failure';
export * from './net-policy.module';
