CREATE TABLE "agent_messages" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"from_user_id" uuid NOT NULL,
	"from_name" text NOT NULL,
	"to_kind" text NOT NULL,
	"to_agent_id" uuid,
	"to_group_id" uuid,
	"text" text NOT NULL,
	"sent_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agent_messages_to_kind_ck" CHECK ("agent_messages"."to_kind" in ('agent','group','all'))
);
--> statement-breakpoint
CREATE TABLE "callers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" text NOT NULL,
	"number" text NOT NULL,
	"name" text NOT NULL,
	"address" text,
	"kind" text DEFAULT 'citizen' NOT NULL,
	"vip" boolean DEFAULT false NOT NULL,
	"registered_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "callers_kind_ck" CHECK ("callers"."kind" in ('citizen','enterprise'))
);
--> statement-breakpoint
ALTER TABLE "agent_messages" ADD CONSTRAINT "agent_messages_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "callers" ADD CONSTRAINT "callers_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "agent_messages_tenant_sent_idx" ON "agent_messages" USING btree ("tenant_id","sent_at");--> statement-breakpoint
CREATE INDEX "agent_messages_to_agent_idx" ON "agent_messages" USING btree ("tenant_id","to_agent_id","sent_at");--> statement-breakpoint
CREATE UNIQUE INDEX "callers_tenant_number_uq" ON "callers" USING btree ("tenant_id","number");