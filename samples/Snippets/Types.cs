namespace Snippets;

// The types the snippets use, standing in for the reader's own.
internal sealed record Job(int Id);

internal sealed record Order(int Id);

internal sealed record Receipt(int OrderId);

internal sealed record ScaleOutJob(int Number, int DelayMs);
