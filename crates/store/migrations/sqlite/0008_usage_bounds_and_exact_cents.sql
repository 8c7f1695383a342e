-- Usage bounds, exact cents and the auto-recharge ceiling (issue 9, decision 0007).

-- Usage is priced exactly in pico-USD (10^-12 USD: tokens × micro-USD per million tokens) and
-- debited in whole micro-USD; what is left below one micro-dollar is carried here until the next
-- record, so an organization is charged Σ tokens × price to within one micro-dollar.
ALTER TABLE credit_accounts ADD COLUMN usage_carry BIGINT NOT NULL DEFAULT 0
    CHECK (usage_carry >= 0 AND usage_carry < 1000000);

-- A record's exact cost in pico-USD; `cost` keeps it rounded half up to the micro-dollar for
-- display. NULL on records stored before this migration, whose cost was whole micro-USD.
ALTER TABLE usage_records ADD COLUMN cost_picos BIGINT;

-- The most auto-recharge may charge in a calendar month (UTC), micro-USD; NULL: no cap beyond
-- the purchase maximum, which bounds every single charge.
ALTER TABLE billing_profiles ADD COLUMN auto_recharge_monthly_cap BIGINT;
