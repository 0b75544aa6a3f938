/**
 * The messenger-neutral message: what the Custom App API carries (DESIGN.md §1), minus the
 * per-channel credentials that the Blinger client adds at send time.
 */
export type MessageType = 'text' | 'image' | 'file';

/** End-user → Blinger. Adapters produce these; the inbound queue carries them. */
export interface InboundMessage {
  client_id: string;
  client_name?: string;
  client_phone?: string;
  info?: Record<string, unknown>;
  type: MessageType;
  /** The text, or an https URL of the image/file (a signed /media link for messenger files). */
  data: string;
  echo?: boolean;
  echo_outgoing?: boolean;
}

/** Blinger (agent) → end-user. The outbound queue carries these; adapters send them. */
export interface OutboundMessage {
  client_id: string;
  type: MessageType;
  data: string;
}
