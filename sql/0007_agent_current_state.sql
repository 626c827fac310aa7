CREATE TABLE "agent_current_state" (
	"redis_prefix" text NOT NULL,
	"agent_id" uuid NOT NULL,
	"tenant_id" text NOT NULL,
	"state" text NOT NULL,
	"reason" text,
	"since" timestamp (3) with time zone NOT NULL,
	"call_uuid" text,
	"owner_node" text,
	"endpoint_type" text,
	"endpoint_address" text,
	"confirm_key" text,
	"gateway" text,
	"extension" text,
	"auto_answer" boolean,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agent_current_state_redis_prefix_agent_id_pk" PRIMARY KEY("redis_prefix","agent_id")
);
--> statement-breakpoint
ALTER TABLE "agent_current_state" ADD CONSTRAINT "agent_current_state_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "agent_current_state_tenant_idx" ON "agent_current_state" USING btree ("tenant_id","state");