-- The reconciler reads the open reservations oldest first: keep them in a small index.
CREATE INDEX reservations_open ON reservations(created_at) WHERE state IN ('pending', 'dialing', 'ringing', 'bridging');
