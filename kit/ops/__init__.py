"""Operations: the activity feed, health monitor, board, notifications, metrics."""
