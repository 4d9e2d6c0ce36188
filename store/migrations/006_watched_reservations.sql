-- The reconciler also watches accepted reservations (a lost reservation.wrapup would leave the
-- task, and its agent, in wrap-up): the index covers the states it reads.
CREATE INDEX reservations_watched ON reservations(created_at) WHERE state IN ('pending', 'dialing', 'ringing', 'bridging', 'accepted');
