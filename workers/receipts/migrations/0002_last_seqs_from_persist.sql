-- Last seqs are now asked of persist (svc.history.last_seqs), which commits a seq before anyone
-- can see it; following every message event only to keep this copy is gone.
DROP TABLE IF EXISTS conversations;
