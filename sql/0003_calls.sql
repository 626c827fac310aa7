CREATE TABLE "call_leg_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"call_uuid" text NOT NULL,
	"seq" integer NOT NULL,
	"leg_uuid" text NOT NULL,
	"role" text NOT NULL,
	"event" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"details" jsonb
);
--> statement-breakpoint
CREATE TABLE "cdrs" (
	"call_uuid" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"direction" text DEFAULT 'inbound' NOT NULL,
	"caller_number" text,
	"callee_number" text,
	"did" text,
	"start_at" timestamp with time zone NOT NULL,
	"answer_at" timestamp with time zone,
	"queue_enter_at" timestamp with time zone,
	"queue_leave_at" timestamp with time zone,
	"agent_answer_at" timestamp with time zone,
	"end_at" timestamp with time zone NOT NULL,
	"duration_ms" integer NOT NULL,
	"talk_ms" integer DEFAULT 0 NOT NULL,
	"hold_ms" integer DEFAULT 0 NOT NULL,
	"queue_ms" integer DEFAULT 0 NOT NULL,
	"hangup_cause" text,
	"hangup_side" text DEFAULT 'unknown' NOT NULL,
	"final_state" text NOT NULL,
	"agent_id" uuid,
	"skill_group_id" uuid,
	"recording_id" text,
	"last_ivr_node" text,
	"ivr_path" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"variables" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"fs_node" text,
	"cti_node" text,
	"recovered" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "call_leg_events" ADD CONSTRAINT "call_leg_events_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cdrs" ADD CONSTRAINT "cdrs_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "call_leg_events_call_seq_uq" ON "call_leg_events" USING btree ("call_uuid","seq");--> statement-breakpoint
CREATE INDEX "call_leg_events_tenant_at_idx" ON "call_leg_events" USING btree ("tenant_id","at");--> statement-breakpoint
CREATE INDEX "cdrs_tenant_start_idx" ON "cdrs" USING btree ("tenant_id","start_at");--> statement-breakpoint
CREATE INDEX "cdrs_tenant_agent_start_idx" ON "cdrs" USING btree ("tenant_id","agent_id","start_at");--> statement-breakpoint
CREATE INDEX "cdrs_tenant_group_start_idx" ON "cdrs" USING btree ("tenant_id","skill_group_id","start_at");--> statement-breakpoint
CREATE INDEX "cdrs_tenant_caller_idx" ON "cdrs" USING btree ("tenant_id","caller_number","start_at");