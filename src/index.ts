/** Programmatic use: build a bridge from a config, or load the config from the environment. */
export { createBridge, type Bridge, type BridgeOptions, type Role } from './bridge.js';
export { loadConfig, ConfigError } from './config/load.js';
export type { BridgeConfig, ChannelConfig } from './config/schema.js';
export type { Adapter, AdapterContext, AdapterDefinition, MediaRef, MediaStream } from './adapter.js';
export type { InboundMessage, OutboundMessage, MessageType, InboundEvent, ReplyButton, ReplyKeyboard } from './message.js';
export {
  compose,
  type Middleware,
  type FlowContext,
  type FlowOutcome,
  type ReplyOptions,
  type BotReply,
  type ConversationFacts,
} from './flow/middleware.js';
export { botFlowSchema, type BotFlowConfig, type BotFlowInput } from './flow/config.js';
export { DeliveryError } from './delivery/errors.js';
