CREATE TABLE "recording_audit" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"recording_id" uuid NOT NULL,
	"user_id" uuid,
	"action" text NOT NULL,
	"range" text,
	"ip" text,
	"user_agent" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "recording_audit_action_ck" CHECK ("recording_audit"."action" in ('play', 'download'))
);
--> statement-breakpoint
CREATE TABLE "recording_marks" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"recording_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"offset_ms" integer NOT NULL,
	"user_id" uuid,
	"reason" text,
	CONSTRAINT "recording_marks_kind_ck" CHECK ("recording_marks"."kind" in ('pause', 'resume'))
);
--> statement-breakpoint
CREATE TABLE "recordings" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" text NOT NULL,
	"call_uuid" text NOT NULL,
	"leg_uuid" text NOT NULL,
	"agent_id" uuid,
	"group_id" uuid,
	"direction" text DEFAULT 'inbound' NOT NULL,
	"caller_number" text,
	"callee_number" text,
	"fs_node" text,
	"started_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"duration_ms" integer,
	"size_bytes" bigint,
	"wav_path" text NOT NULL,
	"compressed_path" text,
	"compressed_size_bytes" bigint,
	"format" text DEFAULT 'wav' NOT NULL,
	"status" text DEFAULT 'recording' NOT NULL,
	"channels" smallint DEFAULT 2 NOT NULL,
	"compress_attempts" integer DEFAULT 0 NOT NULL,
	"compress_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "recordings_status_ck" CHECK ("recordings"."status" in ('recording', 'stopped', 'compressed', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "recording_audit" ADD CONSTRAINT "recording_audit_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recording_audit" ADD CONSTRAINT "recording_audit_recording_id_recordings_id_fk" FOREIGN KEY ("recording_id") REFERENCES "public"."recordings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recording_audit" ADD CONSTRAINT "recording_audit_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recording_marks" ADD CONSTRAINT "recording_marks_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recording_marks" ADD CONSTRAINT "recording_marks_recording_id_recordings_id_fk" FOREIGN KEY ("recording_id") REFERENCES "public"."recordings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recording_marks" ADD CONSTRAINT "recording_marks_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recordings" ADD CONSTRAINT "recordings_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "recording_audit_recording_idx" ON "recording_audit" USING btree ("recording_id","at");--> statement-breakpoint
CREATE INDEX "recording_audit_tenant_at_idx" ON "recording_audit" USING btree ("tenant_id","at");--> statement-breakpoint
CREATE INDEX "recording_marks_recording_idx" ON "recording_marks" USING btree ("recording_id","at");--> statement-breakpoint
CREATE INDEX "recordings_tenant_started_idx" ON "recordings" USING btree ("tenant_id","started_at");--> statement-breakpoint
CREATE INDEX "recordings_tenant_agent_started_idx" ON "recordings" USING btree ("tenant_id","agent_id","started_at");--> statement-breakpoint
CREATE INDEX "recordings_tenant_group_started_idx" ON "recordings" USING btree ("tenant_id","group_id","started_at");--> statement-breakpoint
CREATE INDEX "recordings_tenant_caller_idx" ON "recordings" USING btree ("tenant_id","caller_number");--> statement-breakpoint
CREATE INDEX "recordings_tenant_callee_idx" ON "recordings" USING btree ("tenant_id","callee_number");--> statement-breakpoint
CREATE INDEX "recordings_call_idx" ON "recordings" USING btree ("call_uuid");--> statement-breakpoint
CREATE INDEX "recordings_leg_idx" ON "recordings" USING btree ("leg_uuid");