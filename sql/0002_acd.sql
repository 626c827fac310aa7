CREATE TABLE "agent_endpoints" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" text NOT NULL,
	"agent_id" uuid NOT NULL,
	"type" text NOT NULL,
	"address" text NOT NULL,
	"gateway" text,
	"confirm_key" text,
	"is_default" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agent_endpoints_type_ck" CHECK ("agent_endpoints"."type" in ('sip','mobile'))
);
--> statement-breakpoint
CREATE TABLE "queue_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"at" timestamp (3) with time zone NOT NULL,
	"type" text NOT NULL,
	"call_uuid" text NOT NULL,
	"group_id" uuid,
	"agent_id" uuid,
	"caller_number" text,
	"wait_ms" integer,
	"talk_ms" integer,
	"detail" jsonb,
	CONSTRAINT "queue_events_type_ck" CHECK ("queue_events"."type" in ('enqueue','offer','answer','no_answer','reject','abandon','overflow','transfer','complete'))
);
--> statement-breakpoint
CREATE TABLE "skill_group_members" (
	"tenant_id" text NOT NULL,
	"group_id" uuid NOT NULL,
	"agent_id" uuid NOT NULL,
	"proficiency" smallint DEFAULT 3 NOT NULL,
	"position" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "skill_group_members_group_id_agent_id_pk" PRIMARY KEY("group_id","agent_id"),
	CONSTRAINT "skill_group_members_proficiency_ck" CHECK ("skill_group_members"."proficiency" between 1 and 5)
);
--> statement-breakpoint
CREATE TABLE "skill_groups" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"strategy" text DEFAULT 'longest_idle' NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"aging_rate" double precision DEFAULT 0 NOT NULL,
	"vip_boost" integer DEFAULT 10 NOT NULL,
	"music_on_hold" text,
	"announce_interval_ms" integer DEFAULT 0 NOT NULL,
	"max_wait_ms" integer,
	"overflow_on_wait" jsonb,
	"max_queue_length" integer,
	"overflow_on_length" jsonb,
	"no_answer_timeout_ms" integer DEFAULT 20000 NOT NULL,
	"wrap_up_ms" integer DEFAULT 10000 NOT NULL,
	"previous_agent_enabled" boolean DEFAULT true NOT NULL,
	"previous_agent_window_ms" integer DEFAULT 604800000 NOT NULL,
	"previous_agent_wait_ms" integer DEFAULT 30000 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "skill_groups_strategy_ck" CHECK ("skill_groups"."strategy" in ('longest_idle','round_robin','ring_all','fewest_calls','sequential','random','best_proficiency')),
	CONSTRAINT "skill_groups_aging_ck" CHECK ("skill_groups"."aging_rate" >= 0)
);
--> statement-breakpoint
CREATE TABLE "agent_state_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"agent_id" uuid NOT NULL,
	"state" text NOT NULL,
	"reason" text,
	"started_at" timestamp (3) with time zone NOT NULL,
	"ended_at" timestamp (3) with time zone NOT NULL,
	"duration_ms" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "agent_endpoints" ADD CONSTRAINT "agent_endpoints_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agent_endpoints" ADD CONSTRAINT "agent_endpoints_agent_id_users_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "queue_events" ADD CONSTRAINT "queue_events_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "skill_group_members" ADD CONSTRAINT "skill_group_members_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "skill_group_members" ADD CONSTRAINT "skill_group_members_group_id_skill_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."skill_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "skill_group_members" ADD CONSTRAINT "skill_group_members_agent_id_users_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "skill_groups" ADD CONSTRAINT "skill_groups_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agent_state_log" ADD CONSTRAINT "agent_state_log_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "agent_endpoints_uq" ON "agent_endpoints" USING btree ("tenant_id","agent_id","type","address");--> statement-breakpoint
CREATE INDEX "queue_events_tenant_at_idx" ON "queue_events" USING btree ("tenant_id","at");--> statement-breakpoint
CREATE INDEX "queue_events_group_at_idx" ON "queue_events" USING btree ("tenant_id","group_id","at");--> statement-breakpoint
CREATE INDEX "queue_events_agent_at_idx" ON "queue_events" USING btree ("tenant_id","agent_id","at");--> statement-breakpoint
CREATE INDEX "queue_events_caller_idx" ON "queue_events" USING btree ("tenant_id","caller_number","at");--> statement-breakpoint
CREATE INDEX "skill_group_members_agent_idx" ON "skill_group_members" USING btree ("tenant_id","agent_id");--> statement-breakpoint
CREATE UNIQUE INDEX "skill_groups_tenant_name_uq" ON "skill_groups" USING btree ("tenant_id","name");--> statement-breakpoint
CREATE INDEX "agent_state_log_agent_idx" ON "agent_state_log" USING btree ("tenant_id","agent_id","started_at");--> statement-breakpoint
CREATE INDEX "agent_state_log_tenant_idx" ON "agent_state_log" USING btree ("tenant_id","started_at");