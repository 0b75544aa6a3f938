/** Programmatic use: build a bridge from a config, or load the config from the environment. */
export { createBridge, type Bridge, type BridgeOptions, type Role } from './bridge.js';
export { loadConfig, ConfigError } from './config/load.js';
export type { BridgeConfig, ChannelConfig } from './config/schema.js';
export type { Adapter, AdapterContext, AdapterDefinition, MediaRef, MediaStream } from './adapter.js';
export type { InboundMessage, OutboundMessage, MessageType } from './message.js';
export { DeliveryError } from './delivery/errors.js';
