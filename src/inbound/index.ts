// The inbound call path of a CTI node (claim, fallback cancel, blacklist, IVR, ACD, recording, survey).
export { InboundPipeline, type InboundPipelineOptions } from './inbound-pipeline.js';
export { CallClaims } from './call-claims.js';
