CREATE TABLE "blacklist_entries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" text NOT NULL,
	"number" text NOT NULL,
	"match" text DEFAULT 'exact' NOT NULL,
	"reason" text NOT NULL,
	"expires_at" timestamp with time zone,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"hit_count" integer DEFAULT 0 NOT NULL,
	"last_hit_at" timestamp with time zone,
	CONSTRAINT "blacklist_entries_match_ck" CHECK ("blacklist_entries"."match" in ('exact', 'prefix'))
);
--> statement-breakpoint
CREATE TABLE "blacklist_hits" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"entry_id" uuid,
	"caller_number" text NOT NULL,
	"call_uuid" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "blacklist_proposals" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" text NOT NULL,
	"number" text NOT NULL,
	"match" text DEFAULT 'exact' NOT NULL,
	"reason" text NOT NULL,
	"call_uuid" text,
	"proposed_by" text NOT NULL,
	"proposed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_in_days" integer,
	"status" text DEFAULT 'pending' NOT NULL,
	"decided_by" text,
	"decided_at" timestamp with time zone,
	"decision_note" text,
	"entry_id" uuid,
	CONSTRAINT "blacklist_proposals_status_ck" CHECK ("blacklist_proposals"."status" in ('pending', 'approved', 'rejected'))
);
--> statement-breakpoint
CREATE TABLE "blacklist_settings" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"editors" text DEFAULT 'admin+supervisor' NOT NULL,
	"updated_by" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "calendar_overrides" (
	"tenant_id" text NOT NULL,
	"day" date NOT NULL,
	"kind" text NOT NULL,
	"name" text,
	"hours" jsonb,
	"updated_by" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "calendar_overrides_tenant_id_day_pk" PRIMARY KEY("tenant_id","day"),
	CONSTRAINT "calendar_overrides_kind_ck" CHECK ("calendar_overrides"."kind" in ('holiday', 'workday', 'closed'))
);
--> statement-breakpoint
CREATE TABLE "calendar_settings" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"timezone" text DEFAULT 'Asia/Shanghai' NOT NULL,
	"weekly" jsonb NOT NULL,
	"official" boolean DEFAULT true NOT NULL,
	"make_up_day_hours" jsonb,
	"updated_by" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "survey_results" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"call_uuid" text NOT NULL,
	"caller_number" text NOT NULL,
	"survey" text NOT NULL,
	"key" text NOT NULL,
	"label" text NOT NULL,
	"score" integer,
	"agent_id" text,
	"flow_id" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "voicemails" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" text NOT NULL,
	"call_uuid" text NOT NULL,
	"caller_number" text NOT NULL,
	"destination" text,
	"flow_id" text NOT NULL,
	"node_id" text NOT NULL,
	"category" text,
	"started_at" timestamp with time zone NOT NULL,
	"duration_ms" integer NOT NULL,
	"file_path" text NOT NULL,
	"size_bytes" integer NOT NULL,
	"ended_by" text NOT NULL,
	"listened_at" timestamp with time zone,
	"listened_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "blacklist_entries" ADD CONSTRAINT "blacklist_entries_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "blacklist_hits" ADD CONSTRAINT "blacklist_hits_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "blacklist_hits" ADD CONSTRAINT "blacklist_hits_entry_id_blacklist_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."blacklist_entries"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "blacklist_proposals" ADD CONSTRAINT "blacklist_proposals_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "blacklist_proposals" ADD CONSTRAINT "blacklist_proposals_entry_id_blacklist_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."blacklist_entries"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "blacklist_settings" ADD CONSTRAINT "blacklist_settings_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "calendar_overrides" ADD CONSTRAINT "calendar_overrides_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "calendar_settings" ADD CONSTRAINT "calendar_settings_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "survey_results" ADD CONSTRAINT "survey_results_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "voicemails" ADD CONSTRAINT "voicemails_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "blacklist_entries_tenant_number_uq" ON "blacklist_entries" USING btree ("tenant_id","match","number");--> statement-breakpoint
CREATE INDEX "blacklist_hits_tenant_at_idx" ON "blacklist_hits" USING btree ("tenant_id","at");--> statement-breakpoint
CREATE INDEX "blacklist_proposals_tenant_status_idx" ON "blacklist_proposals" USING btree ("tenant_id","status");--> statement-breakpoint
CREATE INDEX "survey_results_tenant_at_idx" ON "survey_results" USING btree ("tenant_id","at");--> statement-breakpoint
CREATE UNIQUE INDEX "survey_results_call_survey_uq" ON "survey_results" USING btree ("tenant_id","call_uuid","survey");--> statement-breakpoint
CREATE INDEX "voicemails_tenant_started_idx" ON "voicemails" USING btree ("tenant_id","started_at");