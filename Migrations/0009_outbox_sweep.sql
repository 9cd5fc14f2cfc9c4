-- Processed outbox rows are swept after 7 days (OutboxWorkers.sweepProcessed): once a row has
-- become its notification and webhook deliveries it is no longer read, and at the seeds' 10 million
-- payments a day the outbox would otherwise grow by 20 million rows a day. This index finds the
-- old processed rows without scanning the pending ones; rows enter it only when processed.
CREATE INDEX outbox_processed_idx ON outbox (processed_at) WHERE processed_at IS NOT NULL;
