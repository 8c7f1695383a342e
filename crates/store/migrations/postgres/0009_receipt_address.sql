-- A receipt shows the billing address in force when the payment was made (issue 14, bug 10),
-- not today's: the address is copied onto the payment when it is written, as JSON
-- {"name", "line1", "line2", "city", "state", "postal_code", "country"}. NULL: there was no
-- address then (and on payments made before this migration, whose address was not kept).
ALTER TABLE payments ADD COLUMN bill_to TEXT;
