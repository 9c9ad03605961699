-- Outbox rows are published by the process that committed them, right after the commit (it holds
-- their lanes across it); the relay only sweeps what was left. Its wake-up on every insert
-- (NOTIFY to every instance) would now only start empty rounds: each process wakes its own relay
-- when it leaves rows to it, and the relay polls for the rest.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
