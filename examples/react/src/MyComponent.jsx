import { useAnalytics } from '@/hooks/use-analytics';

function MyComponent() {
  const { trackEvent } = useAnalytics();

  const handleClick = () => {
    trackEvent({
      eventType: 'button_click',
      metadata: { button: 'submit', page: 'checkout' }
    });
  };

  return <button onClick={handleClick}>Track Event</button>;
}

export default MyComponent;
