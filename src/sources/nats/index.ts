// The NATS JetStream transport, as the composition module and the commands use it.
export { connectNats, describeServers, natsConnectOptions, NATS_URL_VARIABLE, type NatsConnection } from './connect.js';
export { newWorkerId, WorkerHeartbeat, workersSeen, type WorkerBeat, type WorkerSeen } from './heartbeat.js';
export { contentHash, decodeWorkItem, type WorkItem } from './message.js';
export { openPublisher, publishFile, Publisher, PublishFailedError, type PublishOutcome, type PublishResult } from './publisher.js';
export { natsSettings, type NatsSettings } from './settings.js';
export { NatsDelivery, NatsSource, openNatsSource, type NatsSourceOptions } from './source.js';
export { streamStatus, streamStatusWith, type StreamStatus } from './status.js';
export { deleteStreams, ensureConsumer, ensureStream, ensureWorkersStream, type EffectiveConsumer } from './stream.js';
